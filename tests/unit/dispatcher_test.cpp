// The delivery driver on a manual clock, with the store's jobs run inline on a real store (both
// backends) and a transport whose answers the test gives: what it sends, in what order, and what
// the store holds afterwards.
#include "dispatch/dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"
#include "support/store_backends.h"
#include "world/inline_store_jobs.h"
#include "world/manual_time.h"
#include "world/scripted_transport.h"

namespace purgeq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::Backend;

constexpr std::string_view kZone = "023e105f4ecef8ad9ca31a8372d0c353";
// The queue keys a zone by its name (docs/architecture.md, "Zones by name"); kZone is its id.
constexpr std::string_view kZoneKey = "example.com";

std::string config_yaml(const std::string& account, const std::string& limits) {
  return R"(
accounts:
  - name: )" +
         account + R"(
    token_env: PURGEQ_DISPATCHER_TEST_TOKEN
    plan: enterprise
)" + limits +
         R"(
zones:
  - name: example.com
    id: )" +
         std::string(kZone) +
         R"(
    account: )" +
         account +
         R"(
batching:
  linger: 0ms
retry:
  initial: 1s
  max: 5s
)";
}

std::shared_ptr<const Config> make_config(const std::string& account = "main",
                                          const std::string& limits = "") {
  ::setenv("PURGEQ_DISPATCHER_TEST_TOKEN", "secret-token", 1);
  return std::make_shared<const Config>(load_config_string(config_yaml(account, limits)));
}
// One request in the air at a time: the second half of a refused batch waits for the first.
constexpr std::string_view kOneInFlight = "    limits: {max_in_flight: 1}";

Item file(std::string url) {
  return Item{Kind::file, std::move(url), {}};
}
Item tag(std::string value) {
  return Item{Kind::tag, std::move(value), {}};
}
Item host(std::string value) {
  return Item{Kind::host, std::move(value), {}};
}
Item prefix(std::string value) {
  return Item{Kind::prefix, std::move(value), {}};
}

class DispatcherTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("purgeq-dispatcher");
    const auto where = test::scratch_store(GetParam(), dir_);
    if (!where) GTEST_SKIP() << test::PgTestCluster::missing();
    config_ = make_config();
    jobs_ = std::make_unique<sim::InlineStoreJobs>(test::open_backend(GetParam(), *where),
                                                   scheduler_, clocks_);
    dispatcher_ = std::make_unique<Dispatcher>(DeliveryEnv{clocks_, scheduler_, *jobs_, transport_},
                                               metrics_, config_);
    dispatcher_->start({});
  }
  void TearDown() override {
    dispatcher_.reset();
    jobs_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Accepts an intent as intake does: stored in its own job, then delivery is woken.
  void submit(const std::string& id, const std::vector<Item>& items, bool wake = true) {
    std::vector<ZonedItem> zoned;
    for (const auto& item : items) zoned.push_back(ZonedItem{std::string(kZoneKey), item});
    const auto now = clocks_.wall_ms();
    jobs_->run([id, zoned, now](
                   Store& store) { return store.add_intent(id, now, Peer{}, "test", zoned).items; },
               std::function<void(std::exception_ptr, std::size_t)>(
                   [](const std::exception_ptr& error, std::size_t) { ASSERT_FALSE(error); }));
    jobs_->flush();
    if (!wake) return;
    scheduler_.run_due();
    dispatcher_->wake();
  }

  void run_for(Clock::duration span) { scheduler_.run_until(clocks_.now() + span); }

  // Answers every open request with success as the clock moves, until none is left.
  void succeed_all(Clock::duration span = seconds(60)) {
    const auto until = clocks_.now() + span;
    while (clocks_.now() < until) {
      for (const auto index : transport_.open()) transport_.succeed(index);
      run_for(milliseconds(100));
    }
  }

  std::string status_of(const std::string& id) {
    const auto status = jobs_->store().intent_status(id);
    return status ? std::string(status->status()) : "missing";
  }
  [[nodiscard]] std::int64_t in_flight_rows() {
    return jobs_->store().queue_counts().total(TargetState::in_flight);
  }
  // The requests of one kind, in the order they were sent.
  [[nodiscard]] std::vector<const sim::ScriptedTransport::Sent*> sent_of(
      const std::string& kind) const {
    std::vector<const sim::ScriptedTransport::Sent*> out;
    for (const auto& sent : transport_.sent()) {
      if (sent.kind() == kind) out.push_back(&sent);
    }
    return out;
  }

  std::filesystem::path dir_;
  sim::ManualClocks clocks_;
  sim::ManualScheduler scheduler_{clocks_};
  sim::ScriptedTransport transport_{scheduler_, clocks_};
  Metrics metrics_;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<sim::InlineStoreJobs> jobs_;
  std::unique_ptr<Dispatcher> dispatcher_;
};
PURGEQ_ON_BOTH_BACKENDS(DispatcherTest);

TEST_P(DispatcherTest, ABurstGoesOutInFullBatchesAndEveryIntentEndsDone) {
  std::vector<Item> urls;
  for (int i = 0; i < 1200; ++i)
    urls.push_back(file("https://www.example.com/p/" + std::to_string(i)));
  submit("burst", urls);
  submit("tags", {tag("a"), tag("b")});
  succeed_all();
  const auto files = sent_of("files");
  ASSERT_EQ(files.size(), 3U) << "1,200 URLs at 500 to a request";
  EXPECT_EQ(files[0]->items().size(), 500U);
  EXPECT_EQ(sent_of("tags").size(), 1U);
  EXPECT_EQ(status_of("burst"), "done");
  EXPECT_EQ(status_of("tags"), "done");
  EXPECT_EQ(in_flight_rows(), 0);
  EXPECT_EQ(dispatcher_->requests_in_flight(), 0U);
}

TEST_P(DispatcherTest, WithNothingToSendNothingSpins) {
  // An idle minute: the give-up sweep every 10 s and, on a shared store, a claim round a second,
  // each a timer and a store round or two; nothing else wakes.
  const auto until = clocks_.now() + seconds(60);
  std::size_t wakeups = 0;
  while (scheduler_.step(until)) ++wakeups;
  EXPECT_LE(wakeups, jobs_->shared() ? 60U * 5 : 6U * 4) << "wake-ups in an idle minute";
  EXPECT_TRUE(transport_.sent().empty());
}

// Defect 2 of issue 19: a reload that removes (or renames) an account drops its engine, and with
// it the halves of a bisected batch, whose rows stay in flight: their intents never finish.
TEST_P(DispatcherTest, AReloadRemovingTheAccountDuringABisectionLeavesNothingInFlight) {
  submit("tags", {tag("a"), tag("b"), tag("c"), tag("d")});
  run_for(milliseconds(100));
  ASSERT_EQ(transport_.open().size(), 1U);
  const auto refused = transport_.open().front();
  // The account is renamed while its request is out; then Cloudflare refuses the batch.
  dispatcher_->reconfigure(make_config("renamed"));
  transport_.refuse(refused);
  run_for(seconds(1));
  succeed_all();
  EXPECT_EQ(in_flight_rows(), 0) << "the halves' rows went back to the queue";
  EXPECT_EQ(status_of("tags"), "done") << "and the renamed account sent them";
}

// The same with a half waiting in the engine (behind the other half, one request at a time)
// when the reload comes.
TEST_P(DispatcherTest, AReloadRemovingTheAccountWhileAHalfWaitsLeavesNothingInFlight) {
  config_ = make_config("main", std::string(kOneInFlight));
  dispatcher_->reconfigure(config_);
  submit("tags", {tag("a"), tag("b"), tag("c"), tag("d")});
  run_for(milliseconds(100));
  ASSERT_EQ(transport_.open().size(), 1U);
  transport_.refuse(transport_.open().front());
  run_for(milliseconds(100));
  ASSERT_EQ(transport_.open().size(), 1U) << "one half out, the other waiting";
  const auto first_half = transport_.open().front();
  dispatcher_->reconfigure(make_config("renamed", std::string(kOneInFlight)));
  transport_.succeed(first_half);
  run_for(seconds(1));
  succeed_all();
  EXPECT_EQ(in_flight_rows(), 0);
  EXPECT_EQ(status_of("tags"), "done");
}

// Defect 4 of issue 19: a broad purge that covers more than one store step's rows is covered in
// steps before it is sent. Between the steps the zone's narrower queues were taken and sent,
// though the broad purge covers them.
TEST_P(DispatcherTest, NarrowerQueuesWaitWhileABroadPurgeIsCoveredInSteps) {
  std::vector<Item> urls;
  for (int i = 0; i < 10'500; ++i) {  // the take's step, then two more
    urls.push_back(file("https://www.example.com/p/" + std::to_string(i)));
  }
  submit("urls", urls, /*wake=*/false);
  submit("host", {host("www.example.com")});
  run_for(seconds(2));
  ASSERT_FALSE(transport_.sent().empty());
  EXPECT_EQ(transport_.sent().front().kind(), "hosts") << "the broad purge goes first";
  EXPECT_TRUE(sent_of("files").empty()) << "no URL it covers is sent while it is covered";
  succeed_all();
  EXPECT_TRUE(sent_of("files").empty());
  EXPECT_EQ(status_of("urls"), "done");
  EXPECT_EQ(in_flight_rows(), 0);
}

// Defect 5 of issue 19: bisecting a refused batch released every row it covered, so URLs that a
// good prefix of the batch covered were sent again as URLs after that prefix had purged them.
TEST_P(DispatcherTest, BisectionKeepsWhatEachHalfCovers) {
  submit("urls", {file("https://www.example.com/a/1"), file("https://www.example.com/b/1")},
         /*wake=*/false);
  submit("prefixes", {prefix("www.example.com/a/"), prefix("www.example.com/b/")});
  run_for(milliseconds(100));
  ASSERT_EQ(transport_.open().size(), 1U);
  ASSERT_EQ(transport_.sent().front().kind(), "prefixes");
  transport_.refuse(transport_.open().front());
  run_for(milliseconds(100));
  ASSERT_EQ(transport_.open().size(), 2U) << "the two halves";
  for (const auto index : transport_.open()) {
    if (transport_.sent()[index].items().front() == "www.example.com/a/") {
      transport_.succeed(index);
    } else {
      transport_.refuse(index);  // the second prefix is the one Cloudflare refuses
    }
  }
  run_for(milliseconds(100));
  succeed_all();
  std::vector<std::string> urls_sent;
  for (const auto* sent : sent_of("files")) {
    for (const auto& url : sent->items()) urls_sent.push_back(url);
  }
  EXPECT_EQ(urls_sent, std::vector<std::string>{"https://www.example.com/b/1"})
      << "only the URL its refused prefix did not purge is sent on its own";
  EXPECT_EQ(status_of("urls"), "done");
  EXPECT_EQ(status_of("prefixes"), "partial");
  EXPECT_EQ(in_flight_rows(), 0);
}

// Found by the simulator (seed 56): renaming an account in the config (the same token, so the
// same buckets at Cloudflare) started a new engine with full buckets, and the flex requests it
// sent at once drew 429s. The renamed account keeps its engine: its buckets, its flights.
TEST_P(DispatcherTest, RenamingAnAccountKeepsItsBucketsAndItsFlights) {
  const std::string slow = "    limits: {requests_per_second: 0.0167, burst: 2}";
  config_ = make_config("main", slow);
  dispatcher_->reconfigure(config_);
  submit("first", {tag("a")});
  run_for(milliseconds(100));
  submit("second", {tag("b")});
  run_for(milliseconds(100));
  ASSERT_EQ(sent_of("tags").size(), 2U) << "the burst of two";
  const auto out = transport_.open();
  dispatcher_->reconfigure(make_config("renamed", slow));
  for (const auto index : out) transport_.succeed(index);
  submit("third", {tag("c")});
  run_for(seconds(30));
  EXPECT_EQ(sent_of("tags").size(), 2U) << "no token yet: a minute to the next";
  EXPECT_EQ(status_of("first"), "done") << "an answer across the rename is recorded";
  EXPECT_EQ(status_of("second"), "done");
  run_for(seconds(40));
  EXPECT_EQ(sent_of("tags").size(), 3U);
}

}  // namespace
}  // namespace purgeq
