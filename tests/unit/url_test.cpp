// Tests for the URL model: what parse_url splits, refuses (and in which order), and normalises.
#include "model/url.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace purgeq {
namespace {

Url parsed(std::string_view text, Fragments fragments = Fragments::refuse) {
  auto result = parse_url(text, fragments);
  if (const auto* error = std::get_if<UrlError>(&result)) {
    ADD_FAILURE() << text << ": refused (" << static_cast<int>(*error) << ")";
    return {};
  }
  return std::get<Url>(result);
}

std::optional<UrlError> error_of(std::string_view text, Fragments fragments = Fragments::refuse) {
  const auto result = parse_url(text, fragments);
  if (const auto* error = std::get_if<UrlError>(&result)) return *error;
  return std::nullopt;
}

TEST(Url, SplitsThePartsAsWritten) {
  const Url url = parsed("HTTPS://Example.COM:0443/Path/A?Q=1&r");
  EXPECT_EQ(url.scheme, Scheme::https);
  EXPECT_EQ(url.host, "Example.COM");
  EXPECT_EQ(url.host_kind, HostKind::name);
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.path, "/Path/A");
  EXPECT_EQ(url.query, "Q=1&r");
  EXPECT_FALSE(url.fragment);
  EXPECT_EQ(url.default_port(), 443);
}

TEST(Url, EmptyPartsStayEmpty) {
  const Url bare = parsed("http://example.com");
  EXPECT_EQ(bare.scheme, Scheme::http);
  EXPECT_EQ(bare.path, "");
  EXPECT_FALSE(bare.query);
  EXPECT_FALSE(bare.port);
  EXPECT_EQ(bare.default_port(), 80);
  const Url query = parsed("http://example.com?");
  EXPECT_EQ(query.path, "");
  EXPECT_EQ(query.query, "");
}

TEST(Url, PathAndQueryAreOnlySplitNotHeldToRfc3986) {
  // Cloudflare cache keys hold what clients send; purgeq has always accepted printable ASCII.
  const Url url = parsed("https://example.com/a|b/{c}/%zz?x=[1]^2");
  EXPECT_EQ(url.path, "/a|b/{c}/%zz");
  EXPECT_EQ(url.query, "x=[1]^2");
}

TEST(Url, FragmentsAreRefusedUnlessAllowed) {
  EXPECT_EQ(error_of("https://example.com/a#top"), UrlError::fragment);
  EXPECT_EQ(error_of("https://example.com#"), UrlError::fragment);
  const Url url = parsed("https://Example.com/a/b.css?v=1#top", Fragments::allow);
  EXPECT_EQ(url.host, "Example.com");
  EXPECT_EQ(url.path, "/a/b.css");
  EXPECT_EQ(url.query, "v=1");
  EXPECT_EQ(url.fragment, "top");
  EXPECT_EQ(parsed("https://example.com#x", Fragments::allow).host, "example.com");
}

TEST(Url, Refusals) {
  EXPECT_EQ(error_of(""), UrlError::not_http);
  EXPECT_EQ(error_of("ftp://example.com/"), UrlError::not_http);
  EXPECT_EQ(error_of("https:/example.com/"), UrlError::not_http);
  EXPECT_EQ(error_of("example.com/a"), UrlError::not_http);
  EXPECT_EQ(error_of("https://example.com/a b"), UrlError::control_or_space);
  EXPECT_EQ(error_of("https://example.com/\x7f"), UrlError::control_or_space);
  EXPECT_EQ(error_of("https://user@example.com/"), UrlError::user_info);
  EXPECT_EQ(error_of("https://a@b@example.com/"), UrlError::user_info);
  EXPECT_EQ(error_of("https://[::1]/"), UrlError::ip_host);
  EXPECT_EQ(error_of("https://[garbage/"), UrlError::ip_host);
  EXPECT_EQ(error_of("https://1.2.3/"), UrlError::ip_host);
  EXPECT_EQ(error_of("https://example.com:/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https://example.com:0/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https://example.com:65536/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https://example.com:000443/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https://example.com:8o/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https:///a"), UrlError::no_host);
  EXPECT_EQ(error_of("https://:443/a"), UrlError::no_host);
  EXPECT_EQ(error_of("https://ex\xc3\xa4mple.com/"), UrlError::bad_host);
  EXPECT_EQ(error_of("https://exa_mple.com/"), UrlError::bad_host);
  EXPECT_EQ(error_of("https://ex%41mple.com/"), UrlError::bad_host);
  EXPECT_EQ(error_of("https://-bad.example.com/"), UrlError::bad_host);
  EXPECT_EQ(error_of("https://example.com/\xc3\xa4"), UrlError::non_ascii);
}

TEST(Url, TheFirstProblemWins) {
  // The fragment is named before anything about the authority; the port before the host.
  EXPECT_EQ(error_of("https://user@example.com/#x"), UrlError::fragment);
  EXPECT_EQ(error_of("https://ex\xc3\xa4mple.com:8o/"), UrlError::bad_port);
  EXPECT_EQ(error_of("https://:0/"), UrlError::bad_port);
  EXPECT_EQ(error_of("ftp://example.com/a b"), UrlError::control_or_space);
}

TEST(Url, Ipv4HostsAreParsedForCallersToJudge) {
  const Url url = parsed("http://127.0.0.1:3000");
  EXPECT_EQ(url.host_kind, HostKind::ipv4);
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 3000);
}

TEST(Url, Normalised) {
  EXPECT_EQ(normalised(parsed("HTTPS://Example.COM/Path/A?Q=1")), "https://example.com/Path/A?Q=1");
  EXPECT_EQ(normalised(parsed("Http://www.example.com:8080/x")), "http://www.example.com:8080/x");
  EXPECT_EQ(normalised(parsed("https://example.com:0443/a")), "https://example.com:443/a");
  EXPECT_EQ(normalised(parsed("https://example.com")), "https://example.com/");
  EXPECT_EQ(normalised(parsed("https://example.com?x=1")), "https://example.com/?x=1");
  EXPECT_EQ(normalised(parsed("https://example.com/a/../b")), "https://example.com/a/../b");
  EXPECT_EQ(normalised(parsed("https://e.com/a#F", Fragments::allow)), "https://e.com/a#F");
  EXPECT_EQ(normalised_origin(parsed("HTTP://Example.com:8080")), "http://example.com:8080");
}

}  // namespace
}  // namespace purgeq
