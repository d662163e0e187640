// Who may use the admin endpoints: list and retry failed items, read another user's intent
// (intake/access.h: admin_verdict). Peers named by group are looked up off the event loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string_view>

#include "config/config.h"
#include "intake/access.h"
#include "intake/intake_error.h"
#include "model/peer.h"

namespace purgeq {

class AdminGate {
 public:
  // `self_uid`: purgeqd's effective uid, always an admin.
  AdminGate(IdentityCache& identities, long self_uid);

  // nullopt when `peer` may do `action` ("GET /v1/failed") under `config`; else the 403's error
  // (access_denied), logged as admin_denied. `config` must outlive the call.
  boost::asio::awaitable<std::optional<IntakeError>> check(const Config& config, const Peer& peer,
                                                           std::string_view action);

 private:
  IdentityCache& identities_;
  long self_uid_;
};

}  // namespace purgeq
