// ASCII case folding: hostnames, tags, header names and config keys are compared ASCII-only and
// independently of the process locale (std::tolower would fold differently under, say, tr_TR).
#pragma once

#include <string>
#include <string_view>

namespace purgeq {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace purgeq
