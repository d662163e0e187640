// Local access control: which peers (by uid/gid from SO_PEERCRED) may submit which kinds to which
// zones, from the config's `access:` rules.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "intake/intent_parser.h"
#include "model/peer.h"

namespace purgeq {

// The peer's user name and every group it belongs to (names and numeric ids, as strings).
struct PeerIdentity {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};
PeerIdentity resolve_peer(const Peer& peer);

// True when `identity` is named by the rule's users or groups.
bool rule_admits(const AccessRule& rule, const PeerIdentity& identity);

// nullopt when every item is allowed; otherwise a 403 error naming the rule and the first item it
// refuses. Without rules every peer that can open the socket may submit anything.
std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        std::span<const RoutedItem> items);

}  // namespace purgeq
