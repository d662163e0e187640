// Tests for purgeq's human summaries of purgeqd's answers, including answers with members missing.
#include "cli/cli_output.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace purgeq::cli {
namespace {

namespace json = boost::json;

TEST(CliOutput, Accepted) {
  EXPECT_EQ(format_accepted(json::parse(R"({"id":"01HV","status":"queued","items":3})")),
            "queued 3 items as intent 01HV\n");
  EXPECT_EQ(format_accepted(json::parse(R"({"id":"01HV","status":"queued","items":1})")),
            "queued 1 item as intent 01HV\n");
}

TEST(CliOutput, Outcome) {
  EXPECT_EQ(format_outcome(json::parse(R"({"id":"i","status":"done",
              "items":{"total":3,"queued":0,"in_flight":0,"done":3,"failed":0},"errors":[]})")),
            "done: 3 purged\n");
  EXPECT_EQ(format_outcome(json::parse(R"({"id":"i","status":"partial",
              "items":{"total":3,"queued":0,"in_flight":0,"done":2,"failed":1},
              "errors":[{"kind":"file","item":"https://a.example/x","code":1015,
                         "message":"Unable to purge"}]})")),
            "partial: 2 purged, 1 failed\n"
            "  failed file https://a.example/x : 1015 Unable to purge\n");
  EXPECT_EQ(format_outcome(json::parse(R"({"status":"failed",
              "items":{"done":0,"failed":2},
              "errors":[{"kind":"tag","item":"t1","code":0,"message":"gave up after 72h"},
                        {"item":"t2"}]})")),
            "failed: 0 purged, 2 failed\n"
            "  failed tag t1 : gave up after 72h\n"
            "  failed t2 :\n");
  EXPECT_EQ(format_outcome(json::parse(R"({"status":"in_flight",
              "items":{"queued":1,"in_flight":1,"done":1,"failed":0}})")),
            "in_flight: 1 purged, 0 failed, 2 pending\n");
}

TEST(CliOutput, Intent) {
  EXPECT_EQ(format_intent(json::parse(R"({"id":"01HV","status":"partial",
              "created_at":"2026-11-25T10:02:11Z",
              "items":{"total":3,"queued":0,"in_flight":0,"done":2,"failed":1},
              "errors":[{"kind":"file","item":"https://a/x","code":1015,"message":"nope"}],
              "peer":{"uid":33}})")),
            "intent 01HV: partial (created 2026-11-25T10:02:11Z)\n"
            "  3 items: 0 queued, 0 in flight, 2 purged, 1 failed\n"
            "  failed file https://a/x : 1015 nope\n");
  EXPECT_EQ(format_intent(json::parse(R"({"id":"x","status":"queued"})")),
            "intent x: queued\n  0 items: 0 queued, 0 in flight, 0 purged, 0 failed\n");
}

TEST(CliOutput, StatusFull) {
  const auto status = json::parse(R"json({
    "queue":{"example.com":{"file":10,"tag":2,"in_flight":1},"idle.org":{"in_flight":0}},
    "pending":12,"requests_in_flight":2,"next_dispatch_in_ms":150,
    "accounts":{"main":{"plan":"enterprise","paused":false,"pause_reason":"",
                        "rate_limited_for_ms":0},
                "other":{"paused":true,"pause_reason":"token rejected (401)"},
                "third":{"paused":false,"rate_limited_for_ms":1500}},
    "recent_errors":[{"zone":"a","status":500,"code":0,"message":"old"},
                     {"zone":"example.com","status":429,"code":10000,"message":"rate limited"}],
    "dry_run":true,"failed_items":3,"uptime_seconds":11520,"version":"0.1.0"})json");
  EXPECT_EQ(format_status(status),
            "purgeqd 0.1.0, up 3h 12m, dry run (batches are logged, not sent)\n"
            "queue: 12 pending, 2 requests in flight, next dispatch in 150 ms\n"
            "  example.com: 10 file, 2 tag, 1 in flight\n"
            "failed items: 3 (purgeq failed lists them, purgeq retry-failed requeues)\n"
            "account main: ok\n"
            "account other: paused: token rejected (401)\n"
            "account third: rate limited for 1.5s\n"
            "recent upstream errors: 2 (latest: example.com, HTTP 429, 10000 rate limited)\n");
}

TEST(CliOutput, StatusToleratesMissingMembers) {
  EXPECT_EQ(format_status(json::parse("{}")), "purgeqd\nqueue: 0 pending\n");
  EXPECT_EQ(format_status(json::parse("[]")), "purgeqd\nqueue: 0 pending\n");
  EXPECT_EQ(format_status(json::parse(R"({"queue":{"a":{"file":"x","host":4}},"accounts":[],
                                          "failed_items":null,"uptime_seconds":59,
                                          "next_dispatch_in_ms":null,"storage_error":"disk full"})")),
            "purgeqd, up 59s\nqueue: 4 pending\n  a: 4 host\nstorage: disk full\n");
}

TEST(CliOutput, Failed) {
  EXPECT_EQ(format_failed(json::parse(R"({"items":[]})")), "no failed items\n");
  EXPECT_EQ(format_failed(json::parse("{}")), "no failed items\n");
  EXPECT_EQ(format_failed(json::parse(R"({"items":[
              {"id":7,"zone":"example.com","kind":"file","item":"https://example.com/a",
               "code":1015,"message":"Unable to purge","failed_at":"2026-11-25T10:02:11Z"}]})")),
            "2026-11-25T10:02:11Z  example.com  file  https://example.com/a : 1015 Unable to "
            "purge\n"
            "1 failed item (purgeq retry-failed requeues them)\n");
}

TEST(CliOutput, Requeued) {
  EXPECT_EQ(format_requeued(json::parse(R"({"requeued":4})")), "requeued 4 failed items\n");
  EXPECT_EQ(format_requeued(json::parse(R"({"requeued":1})")), "requeued 1 failed item\n");
}

}  // namespace
}  // namespace purgeq::cli
