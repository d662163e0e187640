// Quoting user-supplied text in error messages: config problems and rejected items alike. An item
// may be megabytes and hold control characters, and a message must stay one readable line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace purgeq {

// Messages quote a value only this far.
inline constexpr std::size_t kMaxQuotedBytes = 120;

// The longest prefix of `text` of at most `limit` bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t limit);

// The text in double quotes with quotes, backslashes and control characters escaped, cut to
// kMaxQuotedBytes on a UTF-8 boundary and followed by "..." when longer: "abc", "a\tb",
// "xxxx..."...
std::string quote(std::string_view text);

}  // namespace purgeq
