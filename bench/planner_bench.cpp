// How planning scales with the backlog: plan_zone over N pending targets of mixed kinds. Compare
// the per-item time across sizes in one run (machines here are shared; ratios, not absolutes).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "planner/planner.h"

namespace purgeq {
namespace {

struct Backlog {
  std::vector<Item> items;
  std::vector<PlanTarget> targets;
};

Backlog make_backlog(std::size_t n, Clock::time_point now) {
  Backlog b;
  b.items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto host = "h" + std::to_string(i % 50) + ".example.com";
    if (i % 100 == 0) {
      b.items.push_back(Item{Kind::prefix, host + "/p" + std::to_string(i % 700), {}});
    } else if (i % 40 == 0) {
      b.items.push_back(Item{Kind::tag, "tag-" + std::to_string(i), {}});
    } else {
      b.items.push_back(Item{Kind::file,
                             "https://" + host + "/p" + std::to_string(i % 997) + "/" +
                                 std::to_string(i) + ".html?v=" + std::to_string(i % 3),
                             {}});
    }
  }
  b.targets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    b.targets.push_back(PlanTarget{static_cast<std::int64_t>(i + 1), &b.items[i],
                                   now - std::chrono::seconds(1), Clock::time_point{}});
  }
  return b;
}

void BM_PlanZone(benchmark::State& state) {
  const auto now = Clock::now();
  const auto backlog = make_backlog(static_cast<std::size_t>(state.range(0)), now);
  const Caps caps{100, 500};
  std::size_t batches = 0;
  for (auto _ : state) {
    auto plan = plan_zone(backlog.targets, caps, std::chrono::milliseconds(200), now);
    batches = plan.ready.size();
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["batches"] = static_cast<double>(batches);
}
BENCHMARK(BM_PlanZone)->Arg(1000)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace purgeq
