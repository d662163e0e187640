// What group commit buys: N single-item intents acknowledged one transaction each (a client that
// waits for every ack before sending the next) versus all queued at once (many concurrent clients,
// which the store worker commits together). Same fsync policy (synchronous=FULL) in both.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "store/sqlite_store.h"
#include "store/store_worker.h"

namespace purgeq {
namespace {

constexpr int kIntents = 500;

std::string fresh_db(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("purgeq-bench-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "queue.db").string();
}

auto add_one(int i) {
  return [i](Store& store) {
    std::vector<ZonedItem> items{
        {"z", Item{Kind::file, "https://a.example/" + std::to_string(i), {}}}};
    return store.add_intent("i" + std::to_string(i), 1, Peer{}, "v1", items).items;
  };
}

void BM_OneCommitPerIntent(benchmark::State& state) {
  for (auto _ : state) {
    boost::asio::io_context io;
    StoreWorker worker(open_sqlite_store(fresh_db("serial")), io.get_executor());
    // Keeps run_one() waiting for the posted ack instead of returning for lack of work.
    auto guard = boost::asio::make_work_guard(io);
    for (int i = 0; i < kIntents; ++i) {
      worker.run(add_one(i), std::function<void(std::exception_ptr, std::size_t)>(
                                 [](const std::exception_ptr&, std::size_t) {}));
      io.run_one();  // the ack: the next submission waits for it, like one sequential client
    }
    guard.reset();
    worker.stop();
    state.counters["commits"] = static_cast<double>(worker.stats().commits);
  }
  state.SetItemsProcessed(state.iterations() * kIntents);
}
BENCHMARK(BM_OneCommitPerIntent)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_GroupCommit(benchmark::State& state) {
  for (auto _ : state) {
    boost::asio::io_context io;
    StoreWorker worker(open_sqlite_store(fresh_db("group")), io.get_executor());
    std::atomic<int> acked{0};
    for (int i = 0; i < kIntents; ++i) {
      worker.run(add_one(i), std::function<void(std::exception_ptr, std::size_t)>(
                                 [&acked](const std::exception_ptr&, std::size_t) { ++acked; }));
    }
    worker.stop();
    io.run();
    state.counters["commits"] = static_cast<double>(worker.stats().commits);
  }
  state.SetItemsProcessed(state.iterations() * kIntents);
}
BENCHMARK(BM_GroupCommit)->Unit(benchmark::kMillisecond)->Iterations(1);

// What completion hooks cost the settle path: take and settle 100,000 URLs (1,000 intents of 100)
// with no hooks (arg 0) and with a hook on every intent (arg 1), where each settled row updates its
// intent's count of unfinished items by trigger.
void BM_SettleWithHooks(benchmark::State& state) {
  constexpr int kHookedIntents = 1000;
  constexpr int kPerIntent = 100;
  const std::string zone = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
  for (auto _ : state) {
    state.PauseTiming();
    auto store = open_sqlite_store(fresh_db(state.range(0) != 0 ? "hooked" : "plain"));
    store->begin();
    for (int i = 0; i < kHookedIntents; ++i) {
      std::vector<ZonedItem> items;
      for (int j = 0; j < kPerIntent; ++j) {
        items.push_back(
            {zone, Item{Kind::file, "https://h/" + std::to_string(i * kPerIntent + j), {}}});
      }
      const std::string id = "i" + std::to_string(i);
      store->add_intent(id, 1000, Peer{}, "v1", items);
      if (state.range(0) != 0) {
        const std::vector<std::string> zones{zone}, hooks{"warm"};
        store->attach_hooks(id, zones, hooks, 1000);
      }
    }
    store->commit();
    state.ResumeTiming();
    for (std::int64_t flight = 1;; ++flight) {
      TakeRequest take;
      take.zone_id = zone;
      take.group = Group::file;
      take.flight = flight;
      take.budget = 1000;
      take.now_ms = 10'000;
      store->begin();
      if (store->take(take, 1000).members.empty()) {
        store->commit();
        break;
      }
      SettleRequest settle;
      settle.flight = flight;
      settle.now_ms = 20'000;
      store->settle(settle, 100'000);
      store->commit();
    }
  }
  state.SetItemsProcessed(state.iterations() * kHookedIntents * kPerIntent);
}
BENCHMARK(BM_SettleWithHooks)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace purgeq
