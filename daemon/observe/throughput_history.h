// Per-second counts of the last 15 minutes (items accepted, requests sent, items purged, items
// failed) for the status page's chart, GET /v1/status/history. A fixed ring of 900 slots: its
// memory does not grow with the traffic or the uptime, and nothing runs while nothing happens (a
// slot whose second has passed reads as zero; no timer clears it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace purgeq {

// What is counted, one series each.
enum class Flow : std::uint8_t { accepted, requests, purged, failed };
inline constexpr std::size_t kFlowCount = 4;
// "items_accepted", "requests", "items_purged", "items_failed": the series' names in the JSON.
[[nodiscard]] std::string_view to_string(Flow flow);

class ThroughputHistory {
 public:
  static constexpr std::size_t kSeconds = 900;

  // `n` more of `flow` in the second `wall_s` (Unix seconds). A second older than the ring holds
  // is dropped; so are counts of a second the wall clock stepped back to after a newer second
  // took its slot.
  void add(std::int64_t wall_s, Flow flow, std::uint64_t n);

  struct Window {
    std::int64_t end_s = 0;  // the newest second, `now_s`
    // Per flow, kSeconds counts, oldest first: [end_s - kSeconds + 1, end_s].
    std::array<std::vector<std::uint64_t>, kFlowCount> series;
  };
  // The last kSeconds seconds up to and including `now_s`; seconds without events read 0.
  [[nodiscard]] Window last(std::int64_t now_s) const;

 private:
  struct Slot {
    std::int64_t second = -1;  // which second the counts are of; -1: never used
    std::array<std::uint64_t, kFlowCount> counts{};
  };
  std::array<Slot, kSeconds> slots_{};
  std::int64_t newest_ = -1;  // the newest second added so far
};

}  // namespace purgeq
