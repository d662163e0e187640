// The status page's ring of per-second counts: what GET /v1/status/history serves.
#include "observe/throughput_history.h"

#include <gtest/gtest.h>

#include <numeric>

namespace purgeq {
namespace {

constexpr std::int64_t kT = 1'800'000'000;  // a Unix second
constexpr auto kN = static_cast<std::int64_t>(ThroughputHistory::kSeconds);

std::uint64_t at(const ThroughputHistory::Window& w, Flow flow, std::int64_t second) {
  return w.series[static_cast<std::size_t>(flow)]
                 [static_cast<std::size_t>(second - (w.end_s - kN + 1))];
}

TEST(ThroughputHistory, CountsEachSecondAndFlowApartOldestFirst) {
  ThroughputHistory history;
  history.add(kT, Flow::purged, 30);
  history.add(kT, Flow::purged, 12);
  history.add(kT, Flow::requests, 1);
  history.add(kT + 2, Flow::accepted, 500);
  const auto w = history.last(kT + 2);
  EXPECT_EQ(w.end_s, kT + 2);
  for (const auto& series : w.series) EXPECT_EQ(series.size(), ThroughputHistory::kSeconds);
  EXPECT_EQ(at(w, Flow::purged, kT), 42U);
  EXPECT_EQ(at(w, Flow::requests, kT), 1U);
  EXPECT_EQ(at(w, Flow::purged, kT + 1), 0U) << "a second without events reads 0";
  EXPECT_EQ(at(w, Flow::accepted, kT + 2), 500U);
  EXPECT_EQ(w.series[static_cast<std::size_t>(Flow::accepted)].back(), 500U) << "newest last";
  EXPECT_EQ(to_string(Flow::purged), "items_purged");
  EXPECT_EQ(to_string(Flow::accepted), "items_accepted");
}

TEST(ThroughputHistory, SecondsOlderThanFifteenMinutesReadZeroAndAreNotCounted) {
  ThroughputHistory history;
  history.add(kT, Flow::purged, 7);
  // 900 s on, the slot of kT is the slot of kT + 900: the old count must not show as new.
  const auto later = history.last(kT + kN);
  const auto& purged = later.series[static_cast<std::size_t>(Flow::purged)];
  EXPECT_EQ(std::accumulate(purged.begin(), purged.end(), std::uint64_t{0}), 0U);
  EXPECT_EQ(at(history.last(kT + kN - 1), Flow::purged, kT), 7U) << "the oldest second shown";
  history.add(kT + kN, Flow::purged, 1);
  history.add(kT, Flow::purged, 100);  // arrives late, older than the ring: dropped
  EXPECT_EQ(at(history.last(kT + kN), Flow::purged, kT + kN), 1U);
}

TEST(ThroughputHistory, AClockSteppedBackDoesNotOverwriteANewerSecond) {
  ThroughputHistory history;
  history.add(kT + 10, Flow::requests, 3);
  history.add(kT + 5, Flow::requests, 2);  // the clock stepped back 5 s: its own slot
  const auto w = history.last(kT + 10);
  EXPECT_EQ(at(w, Flow::requests, kT + 10), 3U);
  EXPECT_EQ(at(w, Flow::requests, kT + 5), 2U);
}

}  // namespace
}  // namespace purgeq
