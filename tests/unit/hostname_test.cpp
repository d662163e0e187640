// Tests for the shared hostname rule (model/hostname.h), which intake and config both apply.
#include "model/hostname.h"

#include <gtest/gtest.h>

#include <string>

namespace purgeq {
namespace {

TEST(Hostname, Accepted) {
  for (const std::string_view host :
       {"example.com", "Example.COM", "localhost", "1password.com", "a.b2", "xn--bcher-kva.example",
        "a-b.c-d.example.com", "0.example.com"}) {
    EXPECT_TRUE(is_valid_hostname(host)) << host;
  }
  EXPECT_TRUE(is_valid_hostname(std::string(63, 'a') + ".com"));
}

TEST(Hostname, Refused) {
  for (const std::string_view host :
       {"", ".", "example.com.", ".example.com", "example..com", "-example.com", "example-.com",
        "a.-b.com", "exa_mple.com", "*.example.com", "example.com:80", "ex ample.com",
        "ex\xc3\xa4mple.com", "1.2.3.4", "example.123", "123"}) {
    EXPECT_FALSE(is_valid_hostname(host)) << host;
  }
  EXPECT_FALSE(is_valid_hostname(std::string(64, 'a') + ".com"));
}

TEST(Hostname, LengthCountsTheWholeName) {
  const std::string labels =
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + ".";
  EXPECT_TRUE(is_valid_hostname(labels + std::string(61, 'd')));   // 253
  EXPECT_FALSE(is_valid_hostname(labels + std::string(62, 'd')));  // 254
}

TEST(Hostname, NumericLastLabel) {
  EXPECT_TRUE(has_numeric_last_label("1.2.3.4"));
  EXPECT_TRUE(has_numeric_last_label("example.123"));
  EXPECT_TRUE(has_numeric_last_label("8080"));
  EXPECT_FALSE(has_numeric_last_label("example.com"));
  EXPECT_FALSE(has_numeric_last_label("example.b2"));
  EXPECT_FALSE(has_numeric_last_label("example."));
  EXPECT_FALSE(has_numeric_last_label(""));
}

}  // namespace
}  // namespace purgeq
