// Priority lanes (docs/delivery.md, "Priority lanes"): within an account's budget, high is sent
// before normal before bulk, and a lower lane still gets a guaranteed share of the requests.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace purgeq {

// Stored in SQLite (targets.lane, intents.lane, queue_counts.lane); never renumber. A smaller
// number is a higher lane, so raising a twin is min(lane, new lane).
enum class Lane : std::uint8_t {
  high = 0,
  normal = 1,
  bulk = 2,
};
inline constexpr int kLaneCount = 3;
inline constexpr std::array kLanes{Lane::high, Lane::normal, Lane::bulk};

// "high", "normal", "bulk": the names of the socket API, the CLI, the config and the metrics.
constexpr std::string_view to_string(Lane lane) {
  switch (lane) {
    case Lane::high:
      return "high";
    case Lane::normal:
      return "normal";
    case Lane::bulk:
      return "bulk";
  }
  return "normal";
}

// nullopt for anything but the three names (case-sensitive, as every other enum of the API).
constexpr std::optional<Lane> lane_from_string(std::string_view name) {
  for (const Lane lane : kLanes) {
    if (name == to_string(lane)) return lane;
  }
  return std::nullopt;
}

inline constexpr std::string_view kLaneNames = "high, normal or bulk";

}  // namespace purgeq
