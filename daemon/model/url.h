// The one URL model: every absolute http(s) URL purgeq reads (file items at intake, their Origin
// headers, and the stored file items routing and coverage look at again) goes through parse_url,
// so "what is this URL's host, port and path" has one answer everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace purgeq {

enum class Scheme : std::uint8_t { http, https };

enum class HostKind : std::uint8_t {
  name,  // a hostname (model/hostname.h)
  ipv4,  // a dotted IPv4 address: callers decide whether an address is acceptable
};

// Why a text is not an absolute http(s) URL, in the order parse_url checks (the first found wins).
enum class UrlError : std::uint8_t {
  control_or_space,  // whitespace or a control character anywhere
  not_http,          // does not start with "http://" or "https://" (any case)
  fragment,          // has a '#' and Fragments::refuse was asked for
  user_info,         // "user@" before the host
  ip_host,           // an IPv6 or future IP literal, or a name whose last label is all digits
  bad_port,          // a ':' not followed by 1..65535 in at most five decimal digits
  no_host,
  bad_host,   // not a hostname (model/hostname.h)
  non_ascii,  // a raw byte >= 0x80 in the path, query or fragment
};

// A parsed URL. The string views point into the text given to parse_url, as written (host and
// scheme not yet lower-cased): keep that text alive while the Url is used.
struct Url {
  Scheme scheme = Scheme::https;
  std::string_view host;
  HostKind host_kind = HostKind::name;
  std::optional<std::uint16_t> port;         // any port written, the scheme's default included
  std::string_view path;                     // "" when the URL has none
  std::optional<std::string_view> query;     // without the '?'
  std::optional<std::string_view> fragment;  // without the '#'

  [[nodiscard]] std::uint16_t default_port() const { return scheme == Scheme::https ? 443 : 80; }
};

// A fragment never reaches a cache key, so intake refuses one before anything else about the
// authority; stored URLs were checked already and may be read back leniently.
enum class Fragments : std::uint8_t { refuse, allow };

// Splits an absolute http(s) URL. The authority goes through Boost.URL (user info, IP literals,
// port); the path and query are only split, never checked against RFC 3986's grammar, because
// Cloudflare's cache keys hold what clients send ('|', '{', raw '%') and purgeq has always
// accepted them: their only rule is "printable ASCII".
std::variant<Url, UrlError> parse_url(std::string_view text,
                                      Fragments fragments = Fragments::refuse);

// The form purgeq stores a file URL in: scheme and host lower-cased, the port (when written) in
// plain decimal, an empty path written as "/" (the same resource, RFC 3986 §6.2.3), path, query
// and fragment as given.
std::string normalised(const Url& url);

// "scheme://host[:port]" lower-cased, as an Origin header carries it.
std::string normalised_origin(const Url& url);

}  // namespace purgeq
