// The URL parser: the authority through Boost.URL, the path and query split as written.
#include "model/url.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/authority_view.hpp>
#include <boost/url/scheme.hpp>
#include <charconv>

#include "model/ascii.h"
#include "model/hostname.h"

namespace purgeq {
namespace {

namespace urls = boost::urls;

constexpr std::size_t kMaxPortDigits = 5;

bool is_control_or_space(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

// 1..65535 in at most five decimal digits ("0443" is 443); nullopt otherwise. Boost.URL accepts
// any run of digits as a port, and port 0 addresses nothing.
std::optional<std::uint16_t> port_number(std::string_view text) {
  if (text.empty() || text.size() > kMaxPortDigits) return std::nullopt;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

std::string_view view(urls::string_view text) {
  return {text.data(), text.size()};
}

UrlError host_error(std::string_view host) {
  return has_numeric_last_label(host) ? UrlError::ip_host : UrlError::bad_host;
}

// Boost.URL refuses the authority as a whole; say which part is wrong, in the order a parsed
// authority is checked, so "example.com:8o" is a bad port but "exämple.com" a bad host.
UrlError diagnose_authority(std::string_view authority) {
  if (authority.starts_with('[')) return UrlError::ip_host;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && !port_number(authority.substr(colon + 1))) {
    return UrlError::bad_port;
  }
  const std::string_view host = authority.substr(0, colon);
  if (host.empty()) return UrlError::no_host;
  return host_error(host);
}

std::optional<UrlError> read_authority(std::string_view authority, Url& url) {
  // Boost.URL would take "user@" apart, but "a@b@c" not at all: any '@' is user info to us.
  if (authority.find('@') != std::string_view::npos) return UrlError::user_info;
  const auto parsed = urls::parse_authority(urls::string_view(authority.data(), authority.size()));
  if (!parsed) return diagnose_authority(authority);
  const auto type = parsed->host_type();
  if (type == urls::host_type::ipv6 || type == urls::host_type::ipvfuture) {
    return UrlError::ip_host;
  }
  if (parsed->has_port()) {
    url.port = port_number(view(parsed->port()));
    if (!url.port) return UrlError::bad_port;
  }
  // Encoded: a percent-encoded name is not a hostname, and is refused rather than decoded.
  const std::string_view host = view(parsed->encoded_host());
  if (host.empty()) return UrlError::no_host;
  if (type == urls::host_type::ipv4) {
    url.host_kind = HostKind::ipv4;
  } else if (!is_valid_hostname(host)) {
    return host_error(host);
  }
  url.host = host;
  return std::nullopt;
}

}  // namespace

std::variant<Url, UrlError> parse_url(std::string_view text, Fragments fragments) {
  if (std::any_of(text.begin(), text.end(), is_control_or_space)) {
    return UrlError::control_or_space;
  }
  constexpr std::string_view kSeparator = "://";
  const auto separator = text.find(kSeparator);
  if (separator == std::string_view::npos) return UrlError::not_http;
  Url url;
  const std::string_view scheme = text.substr(0, separator);
  switch (urls::string_to_scheme(urls::string_view(scheme.data(), scheme.size()))) {
    case urls::scheme::http:
      url.scheme = Scheme::http;
      break;
    case urls::scheme::https:
      url.scheme = Scheme::https;
      break;
    default:
      return UrlError::not_http;
  }
  if (fragments == Fragments::refuse && text.find('#') != std::string_view::npos) {
    return UrlError::fragment;
  }
  std::string_view rest = text.substr(separator + kSeparator.size());
  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  if (const auto error = read_authority(rest.substr(0, authority_end), url)) return *error;
  rest.remove_prefix(authority_end);
  if (std::any_of(rest.begin(), rest.end(), is_non_ascii)) return UrlError::non_ascii;
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    url.fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (const auto question = rest.find('?'); question != std::string_view::npos) {
    url.query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  url.path = rest;
  return url;
}

std::string normalised_origin(const Url& url) {
  std::string out = url.scheme == Scheme::https ? "https://" : "http://";
  out += ascii_lower(url.host);
  if (url.port) out += fmt::format(":{}", *url.port);
  return out;
}

std::string normalised(const Url& url) {
  std::string out = normalised_origin(url);
  out += url.path.empty() ? std::string_view("/") : url.path;
  if (url.query) {
    out += '?';
    out += *url.query;
  }
  if (url.fragment) {
    out += '#';
    out += *url.fragment;
  }
  return out;
}

}  // namespace purgeq
