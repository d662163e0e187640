// Access rules against peer credentials.
#include "intake/access.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

namespace purgeq {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string describe(const Item& item) {
  return item.kind == Kind::everything ? std::string("purge_everything") : item.value;
}

}  // namespace

PeerIdentity resolve_peer(const Peer& peer) {
  PeerIdentity identity;
  if (peer.uid >= 0) identity.users.push_back(std::to_string(peer.uid));
  if (peer.gid >= 0) identity.groups.push_back(std::to_string(peer.gid));
  if (peer.uid < 0) return identity;
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(static_cast<uid_t>(peer.uid), &pw, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr) {
    identity.users.emplace_back(pw.pw_name);
    int count = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(count));
    const gid_t primary = peer.gid >= 0 ? static_cast<gid_t>(peer.gid) : pw.pw_gid;
    if (getgrouplist(pw.pw_name, primary, gids.data(), &count) < 0) {
      gids.resize(static_cast<std::size_t>(count));
      getgrouplist(pw.pw_name, primary, gids.data(), &count);
    }
    gids.resize(static_cast<std::size_t>(std::max(count, 0)));
    for (const gid_t gid : gids) {
      identity.groups.push_back(std::to_string(gid));
      group gr{};
      group* gfound = nullptr;
      std::vector<char> gbuf(16384);
      if (getgrgid_r(gid, &gr, gbuf.data(), gbuf.size(), &gfound) == 0 && gfound != nullptr) {
        identity.groups.emplace_back(gr.gr_name);
      }
    }
  }
  return identity;
}

bool rule_admits(const AccessRule& rule, const PeerIdentity& identity) {
  for (const auto& user : identity.users) {
    if (contains(rule.users, user)) return true;
  }
  for (const auto& group : identity.groups) {
    if (contains(rule.groups, group)) return true;
  }
  return false;
}

std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        std::span<const RoutedItem> items) {
  if (config.access.empty()) return std::nullopt;
  std::optional<PeerIdentity> identity;  // resolved lazily: NSS lookups are not free
  for (const auto& routed : items) {
    const auto& zone = config.zones.at(routed.zone_index);
    for (const auto& rule : config.access) {
      const bool zone_matches = rule.zones.empty() || contains(rule.zones, zone.name);
      const bool kind_matches =
          rule.kinds.empty() ||
          std::find(rule.kinds.begin(), rule.kinds.end(), routed.item.kind) != rule.kinds.end();
      if (!zone_matches || !kind_matches) continue;
      if (!identity) identity = resolve_peer(peer);
      if (rule_admits(rule, *identity)) continue;
      const std::string who =
          identity->users.size() > 1 ? identity->users[1] : fmt::format("uid {}", peer.uid);
      return IntakeError{
          "access_denied",
          fmt::format("access rule \"{}\" does not allow {} to purge by {} on zone {}", rule.name,
                      who, to_string(routed.item.kind), zone.name),
          describe(routed.item)};
    }
  }
  return std::nullopt;
}

}  // namespace purgeq
