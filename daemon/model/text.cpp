#include "model/text.h"

#include <fmt/format.h>

namespace purgeq {

std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string quote(std::string_view text) {
  // fmt's debug format escapes like a C string literal (\", \\, \t, \n, \x01).
  if (text.size() <= kMaxQuotedBytes) return fmt::format("{:?}", text);
  return fmt::format("{:?}...", utf8_prefix(text, kMaxQuotedBytes));
}

}  // namespace purgeq
