// Reading a request body as JSON, stricter than json::parse about duplicate members.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>
#include <variant>

#include "intake/intake_error.h"

namespace purgeq {

// Parses a request body as JSON, refusing what json::parse would accept silently: an object that
// names a member twice (Boost.JSON keeps the last one, so `{"files": [a], "files": [b]}` would
// lose `a`). Errors: invalid_json, duplicate_key (the message names the key and where it is).
// One pass over the text, building the value as it goes.
std::variant<boost::json::value, IntakeError> parse_json_body(std::string_view text);

}  // namespace purgeq
