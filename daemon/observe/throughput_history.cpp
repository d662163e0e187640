// The ring of per-second counts.
#include "observe/throughput_history.h"

namespace purgeq {
namespace {

std::size_t slot_of(std::int64_t second) {
  const auto n = static_cast<std::int64_t>(ThroughputHistory::kSeconds);
  return static_cast<std::size_t>(((second % n) + n) % n);
}

}  // namespace

std::string_view to_string(Flow flow) {
  switch (flow) {
    case Flow::accepted:
      return "items_accepted";
    case Flow::requests:
      return "requests";
    case Flow::purged:
      return "items_purged";
    case Flow::failed:
      return "items_failed";
  }
  return "unknown";
}

void ThroughputHistory::add(std::int64_t wall_s, Flow flow, std::uint64_t n) {
  if (newest_ >= 0 && wall_s <= newest_ - static_cast<std::int64_t>(kSeconds)) return;
  auto& slot = slots_[slot_of(wall_s)];
  if (slot.second > wall_s) return;  // the slot already holds a newer second
  if (slot.second != wall_s) {
    slot.second = wall_s;
    slot.counts = {};
  }
  slot.counts[static_cast<std::size_t>(flow)] += n;
  if (wall_s > newest_) newest_ = wall_s;
}

ThroughputHistory::Window ThroughputHistory::last(std::int64_t now_s) const {
  Window window;
  window.end_s = now_s;
  for (auto& series : window.series) series.assign(kSeconds, 0);
  const auto first = now_s - static_cast<std::int64_t>(kSeconds) + 1;
  for (std::int64_t second = first; second <= now_s; ++second) {
    const auto& slot = slots_[slot_of(second)];
    if (slot.second != second) continue;
    const auto at = static_cast<std::size_t>(second - first);
    for (std::size_t f = 0; f < kFlowCount; ++f) window.series[f][at] = slot.counts[f];
  }
  return window;
}

}  // namespace purgeq
