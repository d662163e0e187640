// The submit route against a real store writer: what it stores and when it wakes delivery.
#include "intake/submit.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>

#include "store/sqlite_store.h"
#include "support/store_backends.h"

namespace purgeq {
namespace {

class CountingView final : public DeliveryView {
 public:
  void wake() override { ++wakes; }
  [[nodiscard]] boost::json::object status_json(const StoreSnapshot&) const override { return {}; }
  [[nodiscard]] boost::json::object waiting_for(const std::string&, Lane,
                                                const StoreSnapshot&) const override {
    return {};
  }
  void render_gauges(MetricsText&, const StoreSnapshot&, const OldestPending&) const override {}
  int wakes = 0;
};

class SubmitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("purgeq-submit");
    ::setenv("PURGEQ_SUBMIT_TEST_TOKEN", "secret-token", 1);
    config_ = std::make_shared<const Config>(load_config_string(R"(
accounts:
  - name: main
    token_env: PURGEQ_SUBMIT_TEST_TOKEN
    plan: business
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)"));
    store_ = std::make_unique<StoreWorker>(open_sqlite_store((dir_ / "queue.db").string()),
                                           io_.get_executor());
    route_ = std::make_unique<SubmitRoute>(*store_, view_, metrics_, identities_);
  }
  void TearDown() override {
    route_.reset();
    store_->stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  unsigned submit(const std::string& body) {
    HttpRequestMessage request{boost::beast::http::verb::post, "/v1/purge", 11};
    request.body() = body;
    request.prepare_payload();
    Submitter who;
    who.peer = Peer{static_cast<long>(::getuid()), static_cast<long>(::getgid()), 1};
    auto answer =
        boost::asio::co_spawn(io_, route_->submit(request, who, config_), boost::asio::use_future);
    io_.restart();
    io_.run();
    return answer.get().result_int();
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  CountingView view_;
  Metrics metrics_;
  IdentityCache identities_;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<StoreWorker> store_;
  std::unique_ptr<SubmitRoute> route_;
};

// Defect 6 of issue 19: an intent whose item merged into a pending twin in a lower lane raised
// the twin's lane but did not wake delivery: the item waited for the driver's next timer (up to
// the 10 s tick) in the high lane.
TEST_F(SubmitTest, RaisingAPendingTwinsLaneWakesDelivery) {
  ASSERT_EQ(submit(R"({"files":["https://example.com/a"],"priority":"bulk"})"), 202U);
  EXPECT_EQ(view_.wakes, 1) << "a new target wakes delivery";
  ASSERT_EQ(submit(R"({"files":["https://example.com/a"],"priority":"bulk"})"), 202U);
  EXPECT_EQ(view_.wakes, 1) << "a twin in the same lane changes nothing delivery looks at";
  ASSERT_EQ(submit(R"({"files":["https://example.com/a"],"priority":"high"})"), 202U);
  EXPECT_EQ(view_.wakes, 2) << "the twin moved to the high lane: look again now";
}

}  // namespace
}  // namespace purgeq
