// How long a backlog takes to send at an account's sustained budget: what `purgeq status` and a
// stuck intent show as "about 5 h to drain". Pure arithmetic over the limits.
#pragma once

#include <array>
#include <cstdint>

#include "config/config.h"
#include "model/item.h"

namespace purgeq {

// Pending items by kind (index: static_cast<int>(Kind)).
using PendingByKind = std::array<std::int64_t, kKindCount>;

// Seconds until `pending` has been sent at `limits`' refill rates: URLs by the URL bucket, the
// other kinds by the flex bucket (max_ops_per_request to a request, one request for everything),
// every request by the global budget, whichever is slowest. Tokens in hand are ignored, so a small
// backlog may go faster; other zones of the account and retries make it slower.
[[nodiscard]] double drain_seconds(const Limits& limits, const PendingByKind& pending);

}  // namespace purgeq
