// What a Cloudflare answer means for the batch that caused it. Pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "io/transport.h"

namespace purgeq {

enum class Verdict {
  success,       // 200 with "success": true: every member and covered target is purged
  rate_limited,  // 429 or code 1134: wait (Retry-After) and slow the whole account
  auth_error,    // 401/403 or codes 10000, 9109, 9106, 6003, 1000: pause the account
  zone_error,    // 404 or codes 7000/7003: the zone id is wrong; nothing item-specific
  rejected,      // another 4xx or success:false: some item is refused; bisect to find it
  transient,     // 5xx, non-JSON, timeouts, connection errors: back off and retry
};

struct Classified {
  Verdict verdict = Verdict::transient;
  int code = 0;         // Cloudflare's first error code (0 if none)
  std::string message;  // Cloudflare's first error message, or the transport/HTTP reason
  std::optional<std::chrono::seconds> retry_after;
  long status = 0;  // the HTTP status (0 for a transport error)
};

Classified classify(const HttpResponse& response);
std::string_view to_string(Verdict verdict);

}  // namespace purgeq
