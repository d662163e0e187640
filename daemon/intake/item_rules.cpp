// The item rules: files (URL, headers, Origin), tags, hosts and prefixes.
#include "intake/item_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_set>
#include <vector>

#include "model/ascii.h"
#include "model/url.h"

namespace purgeq {
namespace {

namespace json = boost::json;

bool is_ascii_control_or_space(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 7230 tchar: what an HTTP header name may consist of.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// True when a path ("/a/../b") has a "." or ".." segment. '%2e' counts as '.' (RFC 3986 §2.3:
// unreserved characters percent-encoded are the same characters) and '\' as a separator, as
// Cloudflare's URL normalization reads them.
bool has_dot_segment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find_first_of("/\\", start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    int dots = 0;
    bool only_dots = !segment.empty();
    for (std::size_t i = 0; i < segment.size() && only_dots;) {
      if (segment[i] == '.') {
        ++dots;
        ++i;
      } else if (segment.size() - i >= 3 && segment[i] == '%' && segment[i + 1] == '2' &&
                 (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
        ++dots;
        i += 3;
      } else {
        only_dots = false;
      }
    }
    if (only_dots && dots <= 2) return true;
    start = end + 1;
  }
  return false;
}

// An invalid host that is an IP literal, or shaped like one, gets a message saying why hostnames
// are required rather than a bare "invalid".
bool looks_like_ip(std::string_view host) {
  return host.starts_with('[') || has_numeric_last_label(host);
}

std::string ip_host_text(std::string_view quoted) {
  return fmt::format("{} has an IP address as host; Cloudflare zones are hostnames", quoted);
}

std::string invalid_host_text(std::string_view quoted, std::string_view host) {
  if (looks_like_ip(host)) return ip_host_text(quoted);
  return fmt::format("{} has an invalid host", quoted);
}

// Validates a file URL and returns it normalised (model/url.h: normalised).
std::variant<std::string, IntakeError> normalise_url(std::string_view url, std::string_view path,
                                                     std::string_view item) {
  auto fail = [&](ErrorCode code, std::string_view text) {
    return make_error(code, path, text, item);
  };
  if (url.size() > kMaxUrlLength) {
    return fail(ErrorCode::url_too_long,
                fmt::format("URL longer than {} characters (purgeq's limit)", kMaxUrlLength));
  }
  const auto parsed = parse_url(url);
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(url); };
  if (const auto* error = std::get_if<UrlError>(&parsed)) {
    switch (*error) {
      case UrlError::control_or_space:
        return fail(ErrorCode::invalid_url,
                    fmt::format("{} contains whitespace or control characters", q()));
      case UrlError::not_http:
        return fail(ErrorCode::invalid_url, fmt::format("{} is not an absolute http(s) URL", q()));
      case UrlError::fragment:
        return fail(
            ErrorCode::url_has_fragment,
            fmt::format("{} has a #fragment, which is never part of a cache key; drop it", q()));
      case UrlError::user_info:
        return fail(ErrorCode::invalid_url,
                    fmt::format("{} must not contain user info (\"user@\")", q()));
      case UrlError::ip_host:
        return fail(ErrorCode::invalid_host, ip_host_text(q()));
      case UrlError::bad_port:
        return fail(ErrorCode::invalid_url, fmt::format("{} has an invalid port", q()));
      case UrlError::no_host:
        return fail(ErrorCode::invalid_url, fmt::format("{} has no host", q()));
      case UrlError::bad_host:
        return fail(ErrorCode::invalid_host, fmt::format("{} has an invalid host", q()));
      case UrlError::non_ascii:
        return fail(ErrorCode::invalid_url,
                    fmt::format("{} has non-ASCII characters in its path or query; "
                                "percent-encode them",
                                q()));
    }
  }
  const Url& parts = std::get<Url>(parsed);
  if (parts.host_kind != HostKind::name) return fail(ErrorCode::invalid_host, ip_host_text(q()));
  return normalised(parts);
}

// The Origin header as browsers send it, which is what the cached object's key holds: lower-case
// scheme://host, the port only when it is not the scheme's default, nothing after (reference §4.4).
std::variant<std::string, IntakeError> normalise_origin(std::string_view value,
                                                        std::string_view path,
                                                        std::string_view item) {
  auto fail = [&](std::string_view text) {
    return make_error(ErrorCode::invalid_origin_header, path,
                      fmt::format("Origin header {} {}", quote(value), text), item);
  };
  constexpr std::string_view kNoPath = "must be scheme://host[:port] with no path";
  const auto parsed = parse_url(value);
  if (const auto* error = std::get_if<UrlError>(&parsed)) {
    switch (*error) {
      case UrlError::not_http:
        return fail("must start with http:// or https://");
      case UrlError::fragment:
      case UrlError::user_info:
      case UrlError::non_ascii:
        return fail(kNoPath);
      case UrlError::bad_port:
        return fail("has an invalid port");
      case UrlError::control_or_space:
      case UrlError::ip_host:
      case UrlError::no_host:
      case UrlError::bad_host:
        return fail("has an invalid host");
    }
  }
  // The origin is the visitor's page, not a zone of ours, so an IPv4 address is legitimate here.
  const Url& origin = std::get<Url>(parsed);
  if (!origin.path.empty() || origin.query) return fail(kNoPath);
  if (origin.port == origin.default_port()) {
    return fail("must omit the default port, as browsers do");
  }
  return normalised_origin(origin);
}

std::variant<std::vector<Header>, IntakeError> validate_headers(const json::object& headers,
                                                                std::string_view path,
                                                                std::string_view item) {
  if (headers.size() > kMaxFileHeaders) {
    return make_error(ErrorCode::too_many_headers, path,
                      fmt::format("{} has {} headers; at most {} are allowed", quote(item),
                                  headers.size(), kMaxFileHeaders),
                      item);
  }
  std::vector<Header> out;
  std::unordered_set<std::string> seen;
  for (const auto& member : headers) {
    const std::string_view name = member.key();
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
      return make_error(ErrorCode::invalid_header, path,
                        fmt::format("header name {} is not an HTTP token", quote(name)), item);
    }
    if (!member.value().is_string()) {
      return make_error(ErrorCode::invalid_header, path,
                        fmt::format("header {} must have a string value, got {}", quote(name),
                                    type_name(member.value())),
                        item);
    }
    std::string_view value = member.value().get_string();
    // HTTP drops optional whitespace around a field value, so the cached key never holds it.
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; })) {
      return make_error(
          ErrorCode::invalid_header, path,
          fmt::format("header {} value {} must be printable ASCII", quote(name), quote(value)),
          item);
    }
    const std::string name_lower = ascii_lower(name);
    if (!seen.insert(name_lower).second) {
      return make_error(
          ErrorCode::duplicate_header, path,
          fmt::format("header {} is given twice (names are case-insensitive)", quote(name)), item);
    }
    if (name_lower == "origin") {
      auto origin = normalise_origin(value, path, item);
      if (auto* error = std::get_if<IntakeError>(&origin)) return std::move(*error);
      out.emplace_back(std::string(name), std::move(std::get<std::string>(origin)));
    } else {
      out.emplace_back(std::string(name), std::string(value));
    }
  }
  std::sort(out.begin(), out.end(), [](const Header& a, const Header& b) {
    return ascii_lower(a.first) < ascii_lower(b.first);
  });
  return out;
}

}  // namespace

std::string entry_as_item(const json::value& entry) {
  if (entry.is_string()) return std::string(entry.get_string());
  if (entry.is_object()) {
    if (const auto* url = entry.get_object().if_contains("url"); url && url->is_string()) {
      return std::string(url->get_string());
    }
  }
  return json::serialize(entry);
}

std::variant<Item, IntakeError> validate_file(const json::value& entry, std::string_view path) {
  const std::string item = entry_as_item(entry);
  if (entry.is_string()) {
    auto url = normalise_url(entry.get_string(), path, item);
    if (auto* error = std::get_if<IntakeError>(&url)) return std::move(*error);
    return Item{Kind::file, std::move(std::get<std::string>(url)), {}};
  }
  if (!entry.is_object()) {
    return make_error(ErrorCode::invalid_file_entry, path,
                      fmt::format("expected a URL string or a {{\"url\", \"headers\"}} object, "
                                  "got {}",
                                  type_name(entry)),
                      item);
  }
  const auto& object = entry.get_object();
  for (const auto& member : object) {
    if (member.key() != "url" && member.key() != "headers") {
      return make_error(ErrorCode::invalid_file_entry, path,
                        fmt::format("unknown member {} in a file object (only \"url\" and "
                                    "\"headers\" are allowed)",
                                    quote(member.key())),
                        item);
    }
  }
  const auto* url_value = object.if_contains("url");
  if (url_value == nullptr) {
    return make_error(ErrorCode::invalid_file_entry, path, "file object has no \"url\"", item);
  }
  if (!url_value->is_string()) {
    return make_error(ErrorCode::invalid_file_entry, path,
                      fmt::format("\"url\" must be a string, got {}", type_name(*url_value)), item);
  }
  auto url = normalise_url(url_value->get_string(), path, item);
  if (auto* error = std::get_if<IntakeError>(&url)) return std::move(*error);
  Item result{Kind::file, std::move(std::get<std::string>(url)), {}};
  if (const auto* headers = object.if_contains("headers")) {
    if (!headers->is_object()) {
      return make_error(ErrorCode::invalid_file_entry, path,
                        fmt::format("\"headers\" must be an object of name: value strings, got {}",
                                    type_name(*headers)),
                        item);
    }
    auto validated = validate_headers(headers->get_object(), path, item);
    if (auto* error = std::get_if<IntakeError>(&validated)) return std::move(*error);
    result.headers = std::move(std::get<std::vector<Header>>(validated));
  }
  return result;
}

std::variant<Item, IntakeError> validate_tag(std::string_view tag, std::string_view path) {
  auto fail = [&](ErrorCode code, std::string_view text) {
    return make_error(code, path, text, tag);
  };
  if (tag.size() > kMaxTagLength) {
    return fail(ErrorCode::tag_too_long,
                fmt::format("tag longer than {} characters", kMaxTagLength));
  }
  if (tag.empty()) return fail(ErrorCode::invalid_tag, "empty tag");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(tag); };
  if (tag.find(' ') != std::string_view::npos) {
    return fail(ErrorCode::invalid_tag, fmt::format("{} contains a space, which tags cannot", q()));
  }
  if (!std::all_of(tag.begin(), tag.end(), [](char c) { return c >= 0x21 && c <= 0x7e; })) {
    return fail(ErrorCode::invalid_tag,
                fmt::format("{} has characters outside printable ASCII", q()));
  }
  // Cache-Tag headers separate tags with commas, so no cached object can carry a tag containing
  // one; the caller most likely meant several tags.
  if (tag.find(',') != std::string_view::npos) {
    return fail(ErrorCode::invalid_tag,
                fmt::format("{} contains ','; Cache-Tag separates tags with commas, give each tag "
                            "separately",
                            q()));
  }
  return Item{Kind::tag, std::string(tag), {}};
}

std::variant<Item, IntakeError> validate_host(std::string_view host, std::string_view path) {
  auto fail = [&](ErrorCode code, std::string_view text) {
    return make_error(code, path, text, host);
  };
  if (host.empty()) return fail(ErrorCode::invalid_host, "empty hostname");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(host); };
  if (std::any_of(host.begin(), host.end(), is_ascii_control_or_space)) {
    return fail(ErrorCode::invalid_host,
                fmt::format("{} contains whitespace or control characters", q()));
  }
  if (const auto scheme = host.find("://"); scheme != std::string_view::npos) {
    const std::string_view rest = host.substr(scheme + 3);
    return fail(ErrorCode::invalid_host,
                fmt::format("{} must be a bare hostname without a scheme (use {})", q(),
                            quote(rest.substr(0, rest.find_first_of("/?#")))));
  }
  if (host.find_first_of("/?#") != std::string_view::npos) {
    return fail(ErrorCode::invalid_host,
                fmt::format("{} must be a bare hostname without a path (use a prefix to purge a "
                            "path)",
                            q()));
  }
  if (host.find('*') != std::string_view::npos) {
    return fail(ErrorCode::invalid_host, fmt::format("{} is a wildcard; name each host", q()));
  }
  if (host.find(':') != std::string_view::npos) {
    return fail(ErrorCode::invalid_host,
                fmt::format("{} must be a bare hostname without a port", q()));
  }
  if (host.size() > kMaxHostLength) {
    return fail(ErrorCode::host_too_long,
                fmt::format("hostname longer than {} characters", kMaxHostLength));
  }
  std::string value = ascii_lower(host);
  if (!is_valid_hostname(value)) {
    if (looks_like_ip(value)) {
      return fail(ErrorCode::invalid_host,
                  fmt::format("{} is an IP address; Cloudflare zones are hostnames", q()));
    }
    return fail(ErrorCode::invalid_host, fmt::format("{} is not a valid hostname", q()));
  }
  return Item{Kind::host, std::move(value), {}};
}

std::variant<Item, IntakeError> validate_prefix(std::string_view prefix, std::string_view path) {
  auto fail = [&](ErrorCode code, std::string_view text) {
    return make_error(code, path, text, prefix);
  };
  if (prefix.size() > kMaxPrefixLength) {
    return fail(ErrorCode::prefix_too_long,
                fmt::format("prefix longer than {} characters (purgeq's limit)", kMaxPrefixLength));
  }
  if (prefix.empty()) return fail(ErrorCode::invalid_prefix, "empty prefix");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(prefix); };
  if (std::any_of(prefix.begin(), prefix.end(), is_ascii_control_or_space)) {
    return fail(ErrorCode::invalid_prefix,
                fmt::format("{} contains whitespace or control characters", q()));
  }
  if (const auto scheme = prefix.find("://"); scheme != std::string_view::npos) {
    return fail(ErrorCode::invalid_prefix, fmt::format("{} must not include a scheme (use {})", q(),
                                                       quote(prefix.substr(scheme + 3))));
  }
  if (prefix.find_first_of("?#") != std::string_view::npos) {
    return fail(ErrorCode::invalid_prefix,
                fmt::format("{} must not contain a query string or fragment; a prefix already "
                            "matches every query string",
                            q()));
  }
  const auto slash = std::min(prefix.find('/'), prefix.size());
  const std::string_view host = prefix.substr(0, slash);
  const std::string_view rest = prefix.substr(slash);
  if (host.empty())
    return fail(ErrorCode::invalid_prefix, fmt::format("{} must start with a hostname", q()));
  if (host.find(':') != std::string_view::npos) {
    return fail(ErrorCode::invalid_prefix, fmt::format("{} must not include a port", q()));
  }
  std::string value = ascii_lower(host);
  if (!is_valid_hostname(value)) return fail(ErrorCode::invalid_host, invalid_host_text(q(), host));
  const auto slashes = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '/'));
  if (slashes > kMaxPrefixSlashes) {
    return fail(ErrorCode::prefix_too_many_slashes,
                fmt::format("{} has {} '/' characters; Cloudflare allows at most {}", q(), slashes,
                            kMaxPrefixSlashes));
  }
  if (std::any_of(rest.begin(), rest.end(), is_non_ascii)) {
    return fail(ErrorCode::invalid_prefix,
                fmt::format("{} has non-ASCII characters in its path; percent-encode them", q()));
  }
  // Cloudflare matches prefixes against normalised paths, which never hold a dot-segment: such a
  // prefix would purge nothing or, resolved, something other than it says ("a/../../etc").
  if (has_dot_segment(rest)) {
    return fail(ErrorCode::invalid_prefix,
                fmt::format("{} has a \".\" or \"..\" path segment; cached paths never do (clients "
                            "and Cloudflare's URL normalization resolve them), so write the path "
                            "without them",
                            q()));
  }
  value += rest;
  return Item{Kind::prefix, std::move(value), {}};
}

std::variant<Item, IntakeError> validate_entry(Kind kind, const json::value& entry,
                                               std::string_view path) {
  if (kind == Kind::file) return validate_file(entry, path);
  if (!entry.is_string()) {
    return make_error(ErrorCode::not_a_string, path,
                      fmt::format("expected a string, got {}", type_name(entry)),
                      json::serialize(entry));
  }
  const std::string_view text = entry.get_string();
  switch (kind) {
    case Kind::tag:
      return validate_tag(text, path);
    case Kind::host:
      return validate_host(text, path);
    default:
      return validate_prefix(text, path);
  }
}

}  // namespace purgeq
