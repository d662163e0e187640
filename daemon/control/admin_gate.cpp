// Admin rights: decided from the peer's uid and gid when they suffice, else from its groups.
#include "control/admin_gate.h"

#include "observe/log.h"

namespace purgeq {

AdminGate::AdminGate(IdentityCache& identities, long self_uid)
    : identities_(identities), self_uid_(self_uid) {}

boost::asio::awaitable<std::optional<IntakeError>> AdminGate::check(const Config& config,
                                                                    const Peer& peer,
                                                                    std::string_view action) {
  std::optional<IntakeError> denied;
  switch (admin_verdict(config, peer, self_uid_)) {
    case AdminVerdict::kAllowed:
      co_return std::nullopt;
    case AdminVerdict::kDenied:
      denied = admin_denied(config, peer, nullptr, action);
      break;
    case AdminVerdict::kNeedsIdentity: {
      const PeerIdentity identity = co_await identities_.resolve(peer);
      if (admin_admits(config, identity)) co_return std::nullopt;
      denied = admin_denied(config, peer, &identity, action);
      break;
    }
  }
  log::info("admin_denied", "uid={} gid={} pid={} action={}", peer.uid, peer.gid, peer.pid,
            log::quote(action));
  co_return denied;
}

}  // namespace purgeq
