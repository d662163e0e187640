// The JSON body of one Cloudflare purge request.
#pragma once

#include <span>
#include <string>

#include "model/item.h"

namespace purgeq {

// All items must be of `kind`. Files with headers become {"url", "headers"} objects.
std::string build_request_body(Kind kind, std::span<const Item* const> items);

}  // namespace purgeq
