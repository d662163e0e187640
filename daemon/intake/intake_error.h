// The one error that rejects an intent, and the helpers every intake step words its errors with.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "http/error_code.h"
#include "model/text.h"

namespace purgeq {

// An error's `item` carries at most this many bytes of the rejected item (then "... (N bytes)"),
// so a rejected 8 MiB tag does not come back as an 8 MiB answer.
inline constexpr std::size_t kMaxErrorItemBytes = 256;

// Why an intent was rejected: the code (http/error_code.h: its name, HTTP status and Cloudflare
// code; docs/api.md says what each means), and the words for the submitter.
struct IntakeError {
  ErrorCode code;
  // One sentence naming the item's position and the rule, e.g.
  // `files[3]: "ftp://x/a" is not an absolute http(s) URL`.
  std::string message;
  // The offending item as given (a file object's url, or its compact JSON when it has no string
  // url), cut by bounded_item(); "" when the error concerns the body rather than one item.
  std::string item;
};

// `item` itself when it has at most kMaxErrorItemBytes bytes; otherwise its first bytes (cut on a
// UTF-8 boundary), "..." and its length: `aaaa... (8388608 bytes)`.
std::string bounded_item(std::string_view item);

// "path: text" (just "text" when `path` is empty), with `item` bounded.
IntakeError make_error(ErrorCode code, std::string_view path, std::string_view text,
                       std::string_view item);

// "null", "a boolean", "a number", "a string", "an array" or "an object", for "got ..." messages.
std::string_view type_name(const boost::json::value& value);

}  // namespace purgeq
