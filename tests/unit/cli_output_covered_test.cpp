// `purgeq show` names the broader purges that completed an intent's items (its covered_by).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/cli_output.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

TEST(CliOutputCoveredBy, OneLinePerCoverer) {
  EXPECT_EQ(format_intent(json::parse(R"({"id":"01HV","status":"done",
              "items":{"total":512,"queued":0,"in_flight":0,"done":512,"failed":0},
              "errors":[],
              "covered_by":[
                {"kind":"prefix","value":"www.example.com/blog/","items":500,"escalation":7},
                {"kind":"everything","items":11},
                {"kind":"host","value":"img.example.com","items":1}]})")),
            "intent 01HV: done\n"
            "  512 items: 0 queued, 0 in flight, 512 purged, 0 failed\n"
            "  covered by prefix www.example.com/blog/ (escalation 7): 500 items\n"
            "  covered by purge_everything: 11 items\n"
            "  covered by host img.example.com: 1 item\n");
}

TEST(CliOutputCoveredBy, NothingWhenEveryItemWentAlone) {
  EXPECT_EQ(format_intent(json::parse(R"({"id":"x","status":"done","covered_by":[],
              "items":{"total":1,"queued":0,"in_flight":0,"done":1,"failed":0}})")),
            "intent x: done\n  1 item: 0 queued, 0 in flight, 1 purged, 0 failed\n");
}

}  // namespace
}  // namespace purgeq::cli
