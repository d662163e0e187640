// The store's hot paths on a big backlog, with an API that builds on the trees before and after
// issue 12 (lanes, hooks, variants, escalation), so the same file measures both: intake of
// 10,000-URL intents, take + settle of the whole backlog 500 at a time (a drain), and a prefix
// purge covering a 100,000-URL backlog (take + cover_step). Run each binary side by side and
// compare CPU time (the store runs in the benchmark's thread; fsync waits are not CPU).
#include <benchmark/benchmark.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "store/sqlite_store.h"

namespace purgeq {
namespace {

const std::string kZone = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
constexpr int kPerIntent = 10'000;

std::string fresh_db(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("purgeq-hot-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "queue.db").string();
}

double file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) : 0.0;
}

// `intents` intents of kPerIntent URLs each, one transaction per intent (as the store worker
// commits a bulk intent).
void fill(Store& store, int intents, int first_intent, const std::string& host) {
  for (int i = first_intent; i < first_intent + intents; ++i) {
    std::vector<ZonedItem> items;
    items.reserve(kPerIntent);
    for (int j = 0; j < kPerIntent; ++j) {
      items.push_back({kZone, Item{Kind::file,
                                   "https://" + host + "/static/p" + std::to_string(i) + "/asset-" +
                                       std::to_string(j) + ".css",
                                   {}}});
    }
    store.begin();
    store.add_intent("i" + std::to_string(i), 1000 + i, Peer{}, "v1", items);
    store.commit();
  }
}

// Bulk intake: 20 intents of 10,000 URLs into an empty store, then 20 more on top of them.
void BM_IntakeBulk(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    const auto path = fresh_db("intake");
    auto store = open_sqlite_store(path);
    state.ResumeTiming();
    fill(*store, 40, 0, "a.example");
  }
  state.SetItemsProcessed(state.iterations() * 40 * kPerIntent);
}
BENCHMARK(BM_IntakeBulk)->Unit(benchmark::kMillisecond)->Iterations(3);

// A drain: take 500 URLs, settle them done, until the 200,000-URL backlog is empty. db_bytes is
// the database (and its WAL) once drained, before any prune: finished rows stay until then.
void BM_DrainTakeSettle(benchmark::State& state) {
  std::string path;
  for (auto _ : state) {
    state.PauseTiming();
    path = fresh_db("drain");
    auto store = open_sqlite_store(path);
    fill(*store, 20, 0, "a.example");
    state.ResumeTiming();
    for (std::int64_t flight = 1;; ++flight) {
      TakeRequest take;
      take.zone_id = kZone;
      take.group = Group::file;
      take.flight = flight;
      take.budget = 500;
      take.now_ms = 10'000 + flight;
      store->begin();
      if (store->take(take, 1000).members.empty()) {
        store->commit();
        break;
      }
      SettleRequest settle;
      settle.flight = flight;
      settle.now_ms = 10'000 + flight;
      while (store->settle(settle, 100'000).more) {
      }
      store->commit();
    }
    state.PauseTiming();
    state.counters["db_bytes"] = file_bytes(path) + file_bytes(path + "-wal");
    store.reset();
    state.counters["db_bytes_checkpointed"] = file_bytes(path);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 20 * kPerIntent);
}
BENCHMARK(BM_DrainTakeSettle)->Unit(benchmark::kMillisecond)->Iterations(3);

// A prefix purge over a 100,000-URL backlog it covers: take (first 1,000 covered rows), then
// cover_step 1,000 rows at a time until done, then settle the flight.
void BM_CoverPrefix(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto store = open_sqlite_store(fresh_db("cover"));
    fill(*store, 10, 0, "a.example");
    const std::vector<ZonedItem> prefix{{kZone, Item{Kind::prefix, "a.example/static", {}}}};
    store->begin();
    store->add_intent("prefix", 5000, Peer{}, "v1", prefix);
    store->commit();
    state.ResumeTiming();
    TakeRequest take;
    take.zone_id = kZone;
    take.group = Group::prefix;
    take.flight = 1;
    take.budget = 100;
    take.now_ms = 10'000;
    store->begin();
    const auto taken = store->take(take, 1000);
    store->commit();
    std::int64_t covered = taken.riders;
    if (taken.coverage_pending) {
      for (;;) {
        store->begin();
        const auto n = store->cover_step(kZone, 1, taken.members, taken.watermark, 1000);
        store->commit();
        if (n == 0) break;
        covered += n;
      }
    }
    SettleRequest settle;
    settle.flight = 1;
    settle.now_ms = 20'000;
    for (bool more = true; more;) {
      store->begin();
      more = store->settle(settle, 1000).more;
      store->commit();
    }
    state.counters["covered"] = static_cast<double>(covered);
  }
  state.SetItemsProcessed(state.iterations() * 10 * kPerIntent);
}
BENCHMARK(BM_CoverPrefix)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace purgeq
