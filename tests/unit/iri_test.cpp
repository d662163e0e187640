// Tests for putting internationalised URLs, hosts and prefixes in the ASCII form browsers send.
#include "model/iri.h"

#include <gtest/gtest.h>

#include <string>

namespace purgeq {
namespace {

std::string ok(const std::variant<std::string, IriError>& result) {
  if (const auto* error = std::get_if<IriError>(&result)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<std::string>(result);
}

TEST(Iri, UrlsAsBrowsersSendThem) {
  EXPECT_EQ(ok(ascii_url("https://www.example.com/caf\xc3\xa9")),
            "https://www.example.com/caf%C3%A9");
  EXPECT_EQ(ok(ascii_url("https://www.example.com/s?q=\xe2\x82\xac&x=1")),
            "https://www.example.com/s?q=%E2%82%AC&x=1");
  // Host: UTS #46 maps capitals and the ideographic full stop, then Punycode (RFC 3492).
  EXPECT_EQ(ok(ascii_url("https://B\xc3\x9c"
                         "CHER\xe3\x80\x82"
                         "example/")),
            "https://xn--bcher-kva.example/");
  EXPECT_EQ(ok(ascii_url("https://m\xc3\xbcnchen.de:8443/\xc3\xa4")),
            "https://xn--mnchen-3ya.de:8443/%C3%A4");
  // Non-transitional: "ß" is kept (xn--), as current browsers do, not mapped to "ss".
  EXPECT_EQ(ok(ascii_url("https://stra\xc3\x9f"
                         "e.example/")),
            "https://xn--strae-oqa.example/");
}

TEST(Iri, AsciiIsLeftByteForByte) {
  for (const auto* url : {"https://Example.COM/a%2Fb?x=%e2#f", "https://a.example", "notaurl",
                          "https://a.example/|{}"}) {
    EXPECT_EQ(ok(ascii_url(url)), url);
  }
  // Not a URL: left for the daemon to refuse with its own rule.
  EXPECT_EQ(ok(ascii_url("www.example.com/\xc3\xa9")), "www.example.com/\xc3\xa9");
}

TEST(Iri, HostsAndPrefixes) {
  EXPECT_EQ(ok(ascii_host("b\xc3\xbc"
                          "cher.example")),
            "xn--bcher-kva.example");
  EXPECT_EQ(ok(ascii_host("a.example")), "a.example");
  EXPECT_EQ(ok(ascii_prefix("b\xc3\xbc"
                            "cher.example/\xc3\xbc"
                            "ber/")),
            "xn--bcher-kva.example/%C3%BCber/");
  EXPECT_EQ(ok(ascii_prefix("a.example/caf\xc3\xa9/")), "a.example/caf%C3%A9/");
}

TEST(Iri, HostsIdnaRefusesAreNamed) {
  const auto result = ascii_host("a\xe2\x98\x83_\x01.example");
  ASSERT_TRUE(std::holds_alternative<IriError>(result));
  EXPECT_TRUE(std::get<IriError>(result).message.starts_with(
      "host \"a\xe2\x98\x83_\\x01.example\" cannot be IDNA-encoded: "))
      << std::get<IriError>(result).message;
  // Invalid UTF-8 is refused too, not passed on half-encoded.
  EXPECT_TRUE(std::holds_alternative<IriError>(ascii_url("https://a\xff.example/")));
}

TEST(Iri, PercentEncodesOnlyNonAscii) {
  EXPECT_EQ(percent_encode_non_ascii("/a b%\xc3\xa9"), "/a b%%C3%A9");
}

}  // namespace
}  // namespace purgeq
