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

}  // namespace
}  // namespace purgeq
