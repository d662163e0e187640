// Comparing a secret someone presented (a client token, a metrics token, the dashboard's path
// secret) with the expected one without the time it takes saying how much of it matched.
#pragma once

#include <string_view>

namespace purgeq {

// True when both are the same bytes. Every byte is compared whatever the outcome; only the length
// can show in the timing, and no secret's length is worth hiding (their formats are public).
[[nodiscard]] inline bool same_secret(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return diff == 0;
}

}  // namespace purgeq
