// POST /v1/expand: what a /v1/purge body would queue (items routed, cache-key variants expanded,
// duplicates merged), without queueing it or checking access rules or backpressure.
#pragma once

#include "config/config.h"
#include "http/responses.h"

namespace purgeq {

// The same 400 and 413 errors as a submission of the same body.
HttpResponseMessage expand(const HttpRequestMessage& request, const Config& config);

}  // namespace purgeq
