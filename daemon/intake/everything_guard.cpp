#include "intake/everything_guard.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/wall_clock.h"

namespace purgeq {
namespace {

// With milliseconds: whole seconds would print an interval of 1m as 61 s apart (the send time
// rounded down, the next allowed moment rounded up) or invite a retry a moment too early.
std::string rfc3339_ms(std::int64_t ms) {
  std::string text = rfc3339_utc(ms);
  text.pop_back();  // the 'Z'
  return fmt::format("{}.{:03}Z", text, ((ms % 1000) + 1000) % 1000);
}

}  // namespace

std::vector<GuardedZone> guarded_zones(const Config& config, std::span<const RoutedItem> items) {
  std::vector<GuardedZone> zones;
  for (const auto& routed : items) {
    if (routed.item.kind != Kind::everything) continue;
    const Zone& zone = config.zones.at(routed.zone_index);
    if (zone.everything.min_interval.count() <= 0) continue;
    const bool seen = std::any_of(zones.begin(), zones.end(), [&](const GuardedZone& guarded) {
      return guarded.zone_index == routed.zone_index;
    });
    if (!seen) zones.push_back(GuardedZone{routed.zone_index, zone.name});
  }
  return zones;
}

std::optional<EverythingTooSoon> everything_verdict(const Zone& zone, std::size_t zone_index,
                                                    std::optional<std::int64_t> last_sent_ms,
                                                    bool pending, std::int64_t now_ms) {
  const auto interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(zone.everything.min_interval).count();
  if (interval <= 0 || !last_sent_ms) return std::nullopt;
  const std::int64_t allowed = *last_sent_ms + interval;
  if (now_ms >= allowed) return std::nullopt;
  // Riding on a pending one sends nothing more; the interval is about requests, not intents.
  if (pending && zone.everything.within == Zone::Everything::Within::merge) return std::nullopt;
  return EverythingTooSoon{zone_index, *last_sent_ms, allowed};
}

std::int64_t retry_after_seconds(const EverythingTooSoon& refusal, std::int64_t now_ms) {
  return std::max<std::int64_t>(1, (refusal.allowed_ms - now_ms + 999) / 1000);
}

IntakeError everything_too_soon_error(const Config& config, const EverythingTooSoon& refusal,
                                      std::int64_t now_ms) {
  const Zone& zone = config.zones.at(refusal.zone_index);
  const bool merge = zone.everything.within == Zone::Everything::Within::merge;
  return IntakeError{
      ErrorCode::everything_too_soon,
      fmt::format("zone {}: a purge-everything was sent at {} and "
                  "zones[{}].everything.min_interval is {} (within: {}{}); the next is allowed "
                  "at {}, in {} s",
                  zone.name, rfc3339_ms(refusal.last_sent_ms), refusal.zone_index,
                  format_duration(zone.everything.min_interval), merge ? "merge" : "refuse",
                  merge ? ", and none is pending to merge with" : "",
                  rfc3339_ms(refusal.allowed_ms), retry_after_seconds(refusal, now_ms)),
      {}};
}

}  // namespace purgeq
