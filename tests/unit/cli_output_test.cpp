// Tests for purgeq's human summaries of purgeqd's answers, including answers with members missing.
#include "cli/cli_output.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "cli/cli_args.h"

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
            "account third: rate limited for 1.5 s\n"
            "recent upstream errors: 2 (latest: example.com, HTTP 429, 10000 rate limited)\n");
}

// Zones by name: one table of the zones' ids, accounts, plans and where they came from.
TEST(CliOutput, StatusTablesTheZones) {
  const auto status = json::parse(R"json({
    "accounts":{"main":{"plan":"free","plan_source":"cloudflare"}},
    "zones":{"a.com":{"id":"023e105f4ecef8ad9ca31a8372d0c353","account":"main","plan":"business",
                      "source":"cloudflare","resolved_at_ms":1000000},
             "b.com":{"id":"13fb0e4a5b1f4bcd9f3d0c61d7a6a0e2","account":"main","plan":"free",
                      "source":"stored","resolved_at_ms":940000},
             "new.com":{"id":null,"account":"main","plan":null,"source":"unresolved",
                        "resolved_at_ms":null,"lookup_error":"HTTP 502"}}})json");
  EXPECT_EQ(format_status(status, 1060000),
            "purgeqd\n"
            "queue: 0 pending\n"
            "account main: ok\n"
            "zones:\n"
            // clang-format off
            "  zone     id                                account  plan                      source      resolved\n"
            "  a.com    023e105f4ecef8ad9ca31a8372d0c353  main     business (paced as free)  cloudflare  1 min ago\n"
            "  b.com    13fb0e4a5b1f4bcd9f3d0c61d7a6a0e2  main     free                      stored      2 min ago\n"
            "  new.com  -                                 main     - (paced as free)         unresolved  lookup failed: HTTP 502\n");
  // clang-format on
}

TEST(CliOutput, StatusNamesTheDaemonThatSendsForEachAccountOfASharedQueue) {
  const auto status = json::parse(R"json({
    "pending":0,"version":"0.1.0",
    "storage":{"backend":"postgres","node":"web1","host_id":3},
    "accounts":{"main":{"paused":false,"sending":true,
                        "sender":{"node":"web1","host_id":3,"this_host":true}},
                "other":{"paused":false,"sending":false,
                         "sender":{"node":"web2","host_id":4,"this_host":false}},
                "third":{"paused":false,"sending":false,
                         "sender":{"node":null,"host_id":null,"this_host":false}}}})json");
  EXPECT_EQ(format_status(status),
            "purgeqd 0.1.0, node web1 (host id 3) on a shared PostgreSQL queue\n"
            "queue: 0 pending\n"
            "account main: ok; sent by this daemon\n"
            "account other: ok; sent by web2 (host id 4)\n"
            "account third: ok; no daemon sends for it right now (a new sender takes over "
            "within seconds)\n");
}

TEST(CliOutput, WaitingOnAnotherDaemonOfASharedQueueNamesIt) {
  EXPECT_EQ(format_waiting(json::parse(R"json({"zone":"example.com","account":"main",
      "pending":1200,"state":"sent_elsewhere",
      "sender":{"node":"web2","host_id":4,"this_host":false}})json")),
            "sent by purgeqd on web2 (ask it: purgeq status there): 1,200 items pending in "
            "example.com");
  EXPECT_EQ(format_waiting(json::parse(R"json({"zone":"example.com","account":"main",
      "pending":3,"state":"sent_elsewhere","sender":{"node":null,"host_id":null}})json")),
            "waiting for a purgeqd to take over account main: 3 items pending in example.com");
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

// The "waiting_for" entries purgeqd adds to a non-terminal intent, one per state.
const char* const kPaused = R"({"zone":"example.com","account":"main","state":"paused",
    "reason":"auth_error 10000: Authentication error","since":"2026-11-27T10:02:11Z","since_s":180,
    "resume":"fix the account's token, then: systemctl reload purgeq"})";
const char* const kFailing = R"({"zone":"example.com","account":"main",
    "state":"upstream_failing","last_error":"HTTP 502","last_error_age_s":12,
    "next_attempt_in_s":8,"consecutive_failures":5})";
const char* const kRateLimited = R"({"zone":"example.com","account":"main",
    "state":"rate_limited","drain_estimate_s":18000,"pending":147000})";

TEST(CliOutputWaiting, Paused) {
  EXPECT_EQ(format_waiting(json::parse(kPaused)),
            "account main is paused since 10:02:11Z (3 min): auth_error 10000: Authentication "
            "error; to resume: fix the account's token, then: systemctl reload purgeq");
  // Older than a day: the date matters; fractional seconds are noise; a probe is announced.
  EXPECT_EQ(format_waiting(json::parse(R"({"account":"main","state":"paused",
                "since":"2026-11-25T08:00:00.250Z","since_s":180000,"next_probe_in_s":60})")),
            "account main is paused since 2026-11-25 08:00:00Z (2 d 2 h); next check in 1 min");
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"example.com","state":"paused","since_s":5})")),
            "the account of example.com is paused for 5 s");
}

TEST(CliOutputWaiting, HigherLanesAhead) {
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"example.com","state":"sending",
                "pending":12000,"ahead_in_higher_lanes":11990})")),
            "sending: 12,000 items pending in example.com; 11,990 items of higher priority go "
            "first");
}

TEST(CliOutputWaiting, UpstreamFailing) {
  EXPECT_EQ(format_waiting(json::parse(kFailing)),
            "Cloudflare is failing (HTTP 502, 12 s ago; attempt 5); next attempt in 8 s");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"upstream_failing","last_error_age_s":70})")),
            "Cloudflare is failing (last error 1 min 10 s ago)");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"upstream_failing"})")),
            "Cloudflare is failing");
}

TEST(CliOutputWaiting, RateLimitedAndSending) {
  EXPECT_EQ(format_waiting(json::parse(kRateLimited)),
            "rate-limited: 147,000 items pending in example.com, about 5 h to drain at the "
            "account's budget");
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"example.com","state":"rate_limited",
                                            "retry_in_s":8})")),
            "rate-limited in example.com; next request in 8 s");
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"example.com","state":"rate_limited",
                "retry_in_s":30,"pending":1,"drain_estimate_s":1.0})")),
            "rate-limited: 1 item pending in example.com, about 1 s to drain at the account's "
            "budget; next request in 30 s");
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"example.com","account":"main",
                "state":"sending","drain_estimate_s":90,"pending":1200})")),
            "sending: 1,200 items pending in example.com, about 1 min 30 s to drain at the "
            "account's budget");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"sending"})")), "sending");
}

TEST(CliOutputWaiting, UnknownStatesAndMembersAreShownNotDropped) {
  EXPECT_EQ(
      format_waiting(json::parse(R"({"zone":"example.com","account":"main",
                "state":"maintenance","eta_s":30.0,"note":"window","nested":{"a":8e2,"b":[1.5]}})")),
      R"(maintenance (zone=example.com, account=main, eta_s=30, note=window, nested={"a":800,"b":[1.5]}))");
  EXPECT_EQ(format_waiting(json::parse(R"({"zone":"z"})")), "unknown (zone=z)");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":7})")), "7");
  EXPECT_EQ(format_waiting(json::parse("42")), "unknown (42)");
  EXPECT_EQ(format_waiting(json::parse("null")), "unknown (null)");
  // Known states with mistyped members: what can be read is shown, the rest skipped.
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"paused","account":7,"since_s":"x",
                                            "reason":null,"resume":["a"]})")),
            "the account is paused");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"rate_limited","pending":"many"})")),
            "rate-limited");
  EXPECT_EQ(format_waiting(json::parse(R"({"state":"sending","pending":1e300})")), "sending");
}

TEST(CliOutputWaiting, ReasonsAreDeduplicated) {
  const auto intent = json::parse(fmt::format(
      R"({{"status":"queued","waiting_for":[{},{},{},"odd"]}})", kPaused, kPaused, kRateLimited));
  EXPECT_EQ(waiting_reasons(intent),
            (std::vector<std::string>{format_waiting(json::parse(kPaused)),
                                      format_waiting(json::parse(kRateLimited)), "unknown (odd)"}));
  EXPECT_TRUE(waiting_reasons(json::parse(R"({"status":"queued"})")).empty());
  EXPECT_TRUE(waiting_reasons(json::parse(R"({"waiting_for":{"a":1}})")).empty());
  EXPECT_TRUE(waiting_reasons(json::parse("[]")).empty());
}

TEST(CliOutputWaiting, ShowAndTimeoutSayWhy) {
  const auto intent = json::parse(fmt::format(
      R"({{"id":"01HV","status":"queued","created_at":"2026-11-27T10:02:10Z",
          "items":{{"total":1,"queued":1,"in_flight":0,"done":0,"failed":0}},"errors":[],
          "waiting_for":[{},{}]}})",
      kPaused, kFailing));
  EXPECT_EQ(format_intent(intent),
            "intent 01HV: queued (created 2026-11-27T10:02:10Z)\n"
            "  1 item: 1 queued, 0 in flight, 0 purged, 0 failed\n"
            "  waiting: account main is paused since 10:02:11Z (3 min): auth_error 10000: "
            "Authentication error; to resume: fix the account's token, then: systemctl reload "
            "purgeq\n"
            "  waiting: Cloudflare is failing (HTTP 502, 12 s ago; attempt 5); next attempt in "
            "8 s\n");
  const auto verdict = intent_verdict(intent, true);
  EXPECT_EQ(verdict.exit_code, 4);
  EXPECT_EQ(verdict.error,
            "timed out waiting for intent 01HV: still queued (0 purged, 0 failed, 1 pending)\n"
            "  waiting: account main is paused since 10:02:11Z (3 min): auth_error 10000: "
            "Authentication error; to resume: fix the account's token, then: systemctl reload "
            "purgeq\n"
            "  waiting: Cloudflare is failing (HTTP 502, 12 s ago; attempt 5); next attempt in "
            "8 s");
  // Not timed out (show of a pending intent): nothing to complain about.
  EXPECT_EQ(intent_verdict(intent, false), (Verdict{0, {}}));
}

TEST(CliOutputWaiting, ProgressLine) {
  const auto intent = json::parse(fmt::format(
      R"({{"status":"in_flight","items":{{"queued":146000,"in_flight":1000,"done":3000,
          "failed":2}},"waiting_for":[{},{}]}})",
      kRateLimited, kFailing));
  EXPECT_EQ(format_progress(intent, 75),
            "waiting 1 min 15 s: 3,000 purged, 147,000 pending, 2 failed; rate-limited: 147,000 "
            "items pending in example.com, about 5 h to drain at the account's budget (+1 more)");
  EXPECT_EQ(format_progress(json::parse(R"({"status":"queued","items":{"queued":1}})"), 0),
            "waiting 0 s: 0 purged, 1 pending");
}

TEST(CliOutputWaiting, Seconds) {
  EXPECT_EQ(format_seconds(-3), "0 s");
  EXPECT_EQ(format_seconds(59), "59 s");
  EXPECT_EQ(format_seconds(60), "1 min");
  EXPECT_EQ(format_seconds(3599), "59 min 59 s");
  EXPECT_EQ(format_seconds(3600), "1 h");
  EXPECT_EQ(format_seconds(18000), "5 h");
  EXPECT_EQ(format_seconds(7500), "2 h 5 min");
  EXPECT_EQ(format_seconds(259200), "3 d");
  EXPECT_EQ(format_seconds(273600), "3 d 4 h");
}

TEST(CliOutput, JsonNumbersAreRoundedForPeople) {
  const auto value = json::parse(
      R"({"flex_tokens":8e2,"url":[1.5,2.0,-0.0,1e300,19.941458112630823,0.0004,-2.5e-1],)"
      R"("n":{"m":3,"s":"1.9941458112630823E1"},"b":[true,null]})");
  EXPECT_EQ(json_for_people(value), R"({"flex_tokens":800,"url":[1.5,2,0,1e+300,19.941,0,-0.25],)"
                                    R"("n":{"m":3,"s":"1.9941458112630823E1"},"b":[true,null]})");
  // What it prints is still JSON, with the same values to three decimals.
  const auto back = json::parse(json_for_people(value));
  EXPECT_EQ(back.at("url").at(4).as_double(), 19.941);
  EXPECT_EQ(number_for_people(0.5), "0.5");
  EXPECT_EQ(number_for_people(-3.0), "-3");
  EXPECT_EQ(number_for_people(std::nan("")), "null");
}

TEST(CliOutput, StatusPrintsIntegersAsIntegers) {
  // Counters the daemon may hold as doubles still print as plain integers.
  EXPECT_EQ(format_status(json::parse(R"({"queue":{"a":{"file":8e2,"in_flight":2.0}},
                                          "pending":8e2,"requests_in_flight":1.0,
                                          "failed_items":3.0,"uptime_seconds":60.0})")),
            "purgeqd, up 1m 0s\nqueue: 800 pending, 1 request in flight\n"
            "  a: 800 file, 2 in flight\nfailed items: 3 (purgeq failed lists them, purgeq "
            "retry-failed requeues)\n");
}

TEST(CliOutput, StatusSaysNothingAboutDispatchWhenNothingIsPending) {
  EXPECT_EQ(format_status(json::parse(R"({"queue":{},"pending":0,"requests_in_flight":0,
                                          "next_dispatch_in_ms":49964})")),
            "purgeqd\nqueue: 0 pending, 0 requests in flight\n");
  EXPECT_EQ(format_status(json::parse(R"({"queue":{"a":{"tag":1,"in_flight":0}},"pending":1,
                                          "next_dispatch_in_ms":200})")),
            "purgeqd\nqueue: 1 pending, next dispatch in 200 ms\n  a: 1 tag\n");
}

TEST(CliOutput, StatusErrorAgesAndDrainEstimates) {
  const auto status = json::parse(R"json({
    "queue":{"example.com":{"file":147000,"in_flight":0,"drain_estimate_s":18000},
             "b.example":{"tag":3,"in_flight":0}},
    "zones":{"b.example":{"drain_estimate_s":2}},
    "pending":147003,
    "accounts":{"main":{"paused":false,"rate_limited_for_ms":0,"drain_estimate_s":18002},
                "idle":{"paused":false,"drain_estimate_s":0}},
    "recent_errors":[{"zone":"example.com","status":502,"code":0,"message":"Bad gateway",
                      "age_s":12}]})json");
  EXPECT_EQ(format_status(status),
            "purgeqd\n"
            "queue: 147003 pending\n"
            "  example.com: 147000 file; drain: about 5 h\n"
            "  b.example: 3 tag; drain: about 2 s\n"
            "account main: ok; drain: about 5 h at the account's budget\n"
            "account idle: ok\n"
            "recent upstream errors: 1 (latest: example.com, HTTP 502 Bad gateway, 12 s ago)\n");
}

TEST(CliOutput, StatusShowsLanesOnlyBesideTheDefaultOne) {
  const auto normal_only = format_status(
      json::parse(R"({"pending":5,"pending_by_lane":{"high":0,"normal":5,"bulk":0},"queue":{}})"));
  EXPECT_EQ(normal_only.find("lanes:"), std::string::npos) << normal_only;
  const auto mixed = format_status(json::parse(
      R"({"pending":15,"pending_by_lane":{"high":10,"normal":5,"bulk":0},"queue":{}})"));
  EXPECT_NE(mixed.find("queue: 15 pending\n  lanes: 10 high, 5 normal\n"), std::string::npos)
      << mixed;
}

TEST(CliOutput, TheLaneIsShownWhereItMatters) {
  EXPECT_EQ(
      format_accepted(json::parse(R"({"id":"I","status":"queued","items":2,"priority":"normal"})")),
      "queued 2 items as intent I\n");
  EXPECT_EQ(
      format_accepted(json::parse(R"({"id":"I","status":"queued","items":2,"priority":"bulk"})")),
      "queued 2 items as intent I (priority bulk)\n");
  EXPECT_EQ(format_intent(json::parse(R"({"id":"I","status":"queued","priority":"high"})")),
            "intent I: queued, priority high\n"
            "  0 items: 0 queued, 0 in flight, 0 purged, 0 failed\n");
}

}  // namespace
}  // namespace purgeq::cli

namespace purgeq::cli {
namespace {

// 2026-11-27T10:05:00Z, the "now" of the status fixtures below.
constexpr std::int64_t kNowMs = 1795773900000;

TEST(CliOutputStatus, FailingUpstreamSaysSinceWhen) {
  // Every request failing to connect (issue 20): the account is not "ok".
  const auto status = json::parse(R"json({
    "pending":12,
    "accounts":{"acme":{"paused":false,"rate_limited_for_ms":0,"backoff_for_ms":39500,
                        "consecutive_failures":12,"failing_since_ms":1795773720000,
                        "drain_estimate_s":1}},
    "recent_errors":[{"at_ms":1795773890000,"age_s":10,"account":"acme","zone":"example.com",
                      "verdict":"transient","status":0,"code":0,
                      "message":"Couldn't connect to server"}]})json");
  EXPECT_EQ(format_status(status, kNowMs),
            "purgeqd\n"
            "queue: 12 pending\n"
            "account acme: upstream failing since 10:02:00Z (3 min ago, 12 failed attempts in a "
            "row; next attempt in 40 s; last error: Couldn't connect to server); drain: about "
            "1 s at the account's budget\n"
            "recent upstream errors: 1 (latest: example.com Couldn't connect to server, 10 s "
            "ago)\n");
}

TEST(CliOutputStatus, WithoutFailingSinceTheStreaksFirstErrorIsUsed) {
  // An older daemon: the streak began with the 2nd-last of acme's errors (2 failures in a row);
  // other accounts' errors and acme's older ones don't count.
  const auto errors = json::parse(R"json([
    {"at_ms":1795770000000,"account":"acme","status":502,"code":0,"message":"Bad gateway"},
    {"at_ms":1795773600000,"account":"acme","status":500,"code":0,"message":"Internal"},
    {"at_ms":1795773700000,"account":"other","status":429,"code":10000,"message":"Slow down"},
    {"at_ms":1795773800000,"account":"acme","status":502,"code":1234,"message":"Bad gateway"}])json");
  const auto account = json::parse(
      R"({"paused":false,"consecutive_failures":2,"backoff_for_ms":0,"rate_limited_for_ms":0})");
  EXPECT_EQ(format_account_state("acme", account, errors, kNowMs),
            "upstream failing since 10:00:00Z (5 min ago, 2 failed attempts in a row; last "
            "error: HTTP 502 code 1234: Bad gateway)");
  // A day or more ago: the date too. Without any error kept: no time, still failing.
  EXPECT_EQ(
      format_account_state(
          "acme", json::parse(R"({"consecutive_failures":1,"failing_since_ms":1795600000000})"),
          json::value(), kNowMs),
      "upstream failing since 2026-11-25 09:46:40Z (2 d ago, 1 failed attempt)");
  EXPECT_EQ(format_account_state("acme", json::parse(R"({"consecutive_failures":3})"),
                                 json::value(), kNowMs),
            "upstream failing (3 failed attempts in a row)");
}

TEST(CliOutputStatus, PausedRateLimitedAndOk) {
  const json::value none;
  const auto paused = json::parse(
      R"json({"paused":true,"pause_reason":"token rejected (401)","consecutive_failures":4})json");
  EXPECT_EQ(format_account_state("a", paused, none, kNowMs), "paused: token rejected (401)");
  EXPECT_EQ(
      format_account_state("a", json::parse(R"({"rate_limited_for_ms":3456.7})"), none, kNowMs),
      "rate limited for 3.5 s");
  EXPECT_EQ(format_account_state(
                "a", json::parse(R"({"consecutive_failures":1,"rate_limited_for_ms":2000})"), none,
                kNowMs),
            "upstream failing (1 failed attempt); rate limited for 2.0 s");
  EXPECT_EQ(format_account_state("a", json::parse(R"({"consecutive_failures":0})"), none, kNowMs),
            "ok");
}

TEST(CliOutputReceipts, SeveralIntentsReadAsOneSubmission) {
  const std::vector<json::value> answers{
      json::parse(R"({"id":"A","status":"queued","items":233016,"priority":"bulk"})"),
      json::parse(R"({"id":"B","status":"queued","items":233016,"priority":"bulk"})"),
      json::parse(R"({"id":"C","status":"queued","items":133968,"priority":"bulk"})")};
  const auto merged = merge_receipts(answers);
  EXPECT_EQ(merged.at("items").as_int64(), 600000);
  EXPECT_EQ(format_accepted(merged), "queued 600000 items as 3 intents (priority bulk): A, B, C\n");
  EXPECT_EQ(merge_receipts({answers[0]}), answers[0]);
  EXPECT_EQ(format_accepted(merge_receipts({answers[0]})),
            "queued 233016 items as intent A (priority bulk)\n");
}

TEST(CliOutputReceipts, SeveralIntentsEndAsOne) {
  const auto intent = [](std::string_view id, std::string_view status, int done, int failed,
                         int queued) {
    return json::value{{"id", id},
                       {"status", status},
                       {"items",
                        {{"total", done + failed + queued},
                         {"queued", queued},
                         {"in_flight", 0},
                         {"done", done},
                         {"failed", failed}}},
                       {"errors", json::array{}}};
  };
  const auto all_done = merge_intents({intent("A", "done", 3, 0, 0), intent("B", "done", 2, 0, 0)});
  EXPECT_EQ(format_outcome(all_done), "done: 5 purged\n");
  EXPECT_EQ(intent_verdict(all_done, false).exit_code, kExitOk);
  const auto mixed = merge_intents({intent("A", "done", 3, 0, 0), intent("B", "partial", 1, 1, 0)});
  EXPECT_EQ(format_outcome(mixed), "partial: 4 purged, 1 failed\n");
  EXPECT_EQ(intent_verdict(mixed, false).exit_code, kExitItemsFailed);
  const auto pending =
      merge_intents({intent("A", "done", 3, 0, 0), intent("B", "queued", 0, 0, 2)});
  EXPECT_FALSE(is_terminal(pending.at("status").as_string()));
  EXPECT_EQ(intent_verdict(pending, true).error,
            "timed out waiting for intents A, B: still queued (3 purged, 0 failed, 2 pending)");
  EXPECT_EQ(intent_verdict(pending, true).exit_code, kExitTimedOut);
}

TEST(CliOutputRefusals, TooLargeNamesTheDaemonsReasonOrTheClientsLimits) {
  EXPECT_EQ(answer_verdict(413, json::parse(R"({"error":{"code":"too_many_items",
      "message":"the intent has 250001 items and intake.max_items_per_intent is 250000; split it into several intents"}})"))
                .error,
            "rejected (HTTP 413): the intent has 250001 items and intake.max_items_per_intent is "
            "250000; split it into several intents");
  EXPECT_EQ(answer_verdict(413, nullptr).error,
            "rejected: the request is larger than purgeqd accepts (HTTP 413, no reason given); "
            "purgeq cuts item lists into intents of at most 250000 items and 8 MiB, so purgeqd's "
            "limits must be lower");
}

}  // namespace
}  // namespace purgeq::cli
