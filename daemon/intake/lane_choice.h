// The lane an accepted intent is queued in (docs/delivery.md, "Priority lanes").
#pragma once

#include "config/config.h"
#include "intake/access.h"
#include "intake/intent_parser.h"
#include "model/lane.h"

namespace purgeq {

// The body's "priority" when it gives one; else, for an API client on the TCP listener, its
// api_clients[].priority; else the lane of the first access rule that sets one, matches an item
// and admits the peer (access_lane; `identity` is null when no access rule matches any item, so
// the peer was not looked up); else normal.
Lane choose_lane(const Config& config, const ParsedIntent& intent, const ApiClient* client,
                 const PeerIdentity* identity);

}  // namespace purgeq
