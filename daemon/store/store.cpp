// The parts of the store contract every backend shares.
#include "store/store.h"

namespace purgeq {

std::string_view IntentStatus::status() const {
  if (total > 0 && done + failed == total) {
    if (failed == 0) return "done";
    return done == 0 ? "failed" : "partial";
  }
  if (in_flight > 0 || done > 0 || failed > 0) return "in_flight";
  return "queued";
}

std::int64_t QueueCounts::of(std::string_view zone_id, Group group, TargetState state) const {
  const auto it = zones.find(zone_id);
  if (it == zones.end()) return 0;
  return it->second[static_cast<std::size_t>(group)][static_cast<std::size_t>(state)];
}

std::int64_t QueueCounts::pending_in(std::string_view zone_id, Group group, Lane lane) const {
  const auto it = lanes.find(zone_id);
  if (it == lanes.end()) return 0;
  return it->second[static_cast<std::size_t>(group)][static_cast<std::size_t>(lane)];
}

std::int64_t QueueCounts::lane_total(Lane lane) const {
  std::int64_t n = 0;
  for (const auto& [zone_id, groups] : lanes) {
    for (const auto& per_lane : groups) n += per_lane[static_cast<std::size_t>(lane)];
  }
  return n;
}

std::int64_t QueueCounts::zone_total(std::string_view zone_id, TargetState state) const {
  std::int64_t n = 0;
  for (int g = 0; g < kGroupCount; ++g) n += of(zone_id, static_cast<Group>(g), state);
  return n;
}

std::int64_t QueueCounts::total(TargetState state) const {
  std::int64_t n = 0;
  for (const auto& [zone_id, groups] : zones) n += zone_total(zone_id, state);
  return n;
}

}  // namespace purgeq
