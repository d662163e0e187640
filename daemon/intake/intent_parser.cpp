// Validation, normalisation, routing and in-intent de-duplication of purge request bodies.
#include "intake/intent_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <unordered_set>

#include "intake/routing.h"
#include "model/ascii.h"

namespace purgeq {
namespace {

namespace json = boost::json;

// Long items are quoted only this far in messages; the item member of the error carries a longer
// prefix (kMaxErrorItemBytes).
constexpr std::size_t kQuoteLimit = 120;

bool is_ascii_control_or_space(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

bool is_non_ascii(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// RFC 7230 tchar: what an HTTP header name may consist of.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The item quoted and escaped for a message, cut short (on a UTF-8 boundary) when long.
std::string quote(std::string_view text) {
  if (text.size() <= kQuoteLimit) return fmt::format("{:?}", text);
  std::size_t cut = kQuoteLimit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{:?}...", text.substr(0, cut));
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

std::string_view type_name(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

IntakeError make_error(std::string_view code, std::string_view path, std::string_view text,
                       std::string_view item) {
  std::string message = path.empty() ? std::string(text) : fmt::format("{}: {}", path, text);
  return IntakeError{std::string(code), std::move(message), bounded_item(item)};
}

// The longest prefix of `text` of at most `limit` bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

// 1..65535 in decimal; nullopt otherwise.
std::optional<unsigned> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
    return std::nullopt;
  }
  unsigned port = 0;
  std::from_chars(text.data(), text.data() + text.size(), port);
  if (port == 0 || port > 65535) return std::nullopt;
  return port;
}

// An IP literal in host position: bracketed IPv6, or anything whose last label is numeric (which
// no DNS name has, RFC 3696 §2, and which covers dotted IPv4).
bool looks_like_ip(std::string_view host) {
  if (host.starts_with('[')) return true;
  const auto dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  return !last.empty() && std::all_of(last.begin(), last.end(), is_digit);
}

bool is_ipv4(std::string_view host) {
  int parts = 0;
  while (true) {
    const auto dot = host.find('.');
    const std::string_view part = host.substr(0, dot);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit)) {
      return false;
    }
    unsigned octet = 0;
    std::from_chars(part.data(), part.data() + part.size(), octet);
    if (octet > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return parts == 4;
}

std::string invalid_host_text(std::string_view quoted, std::string_view host) {
  if (looks_like_ip(host)) {
    return fmt::format("{} has an IP address as host; Cloudflare zones are hostnames", quoted);
  }
  return fmt::format("{} has an invalid host", quoted);
}

// "http" or "https" (any case) followed by "://", as the length of the scheme; 0 otherwise.
std::size_t http_scheme_length(std::string_view url) {
  const auto pos = url.find("://");
  if (pos == std::string_view::npos) return 0;
  const std::string_view scheme = url.substr(0, pos);
  return iequals(scheme, "http") || iequals(scheme, "https") ? pos : 0;
}

// Validates a file URL and returns it normalised: scheme and host lower-cased, the port in plain
// decimal, an empty path written as "/" (the same resource, RFC 3986 §6.2.3); path and query as
// given.
std::variant<std::string, IntakeError> normalise_url(std::string_view url, std::string_view path,
                                                     std::string_view item) {
  auto fail = [&](std::string_view code, std::string_view text) {
    return make_error(code, path, text, item);
  };
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(url); };
  if (url.size() > kMaxUrlLength) {
    return fail("url_too_long",
                fmt::format("URL longer than {} characters (purgeq's limit)", kMaxUrlLength));
  }
  if (std::any_of(url.begin(), url.end(), is_ascii_control_or_space)) {
    return fail("invalid_url", fmt::format("{} contains whitespace or control characters", q()));
  }
  const std::size_t scheme_length = http_scheme_length(url);
  if (scheme_length == 0) {
    return fail("invalid_url", fmt::format("{} is not an absolute http(s) URL", q()));
  }
  if (url.find('#') != std::string_view::npos) {
    return fail(
        "url_has_fragment",
        fmt::format("{} has a #fragment, which is never part of a cache key; drop it", q()));
  }
  std::string_view rest = url.substr(scheme_length + 3);
  const auto authority_end = std::min(rest.find_first_of("/?"), rest.size());
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail = rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("invalid_url", fmt::format("{} must not contain user info (\"user@\")", q()));
  }
  // An IPv6 literal's colons are not a port separator; it is refused as an IP host either way.
  if (authority.starts_with('[')) return fail("invalid_host", invalid_host_text(q(), authority));
  std::string_view host = authority;
  std::optional<unsigned> port;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = parse_port(authority.substr(colon + 1));
    if (!port) return fail("invalid_url", fmt::format("{} has an invalid port", q()));
  }
  if (host.empty()) return fail("invalid_url", fmt::format("{} has no host", q()));
  const std::string host_lower = ascii_lower(host);
  if (!is_valid_hostname(host_lower)) return fail("invalid_host", invalid_host_text(q(), host));
  if (std::any_of(tail.begin(), tail.end(), is_non_ascii)) {
    return fail(
        "invalid_url",
        fmt::format("{} has non-ASCII characters in its path or query; percent-encode them", q()));
  }
  std::string out = ascii_lower(url.substr(0, scheme_length));
  out += "://";
  out += host_lower;
  if (port) out += fmt::format(":{}", *port);
  if (tail.empty() || tail.front() == '?') out += '/';
  out += tail;
  return out;
}

// The Origin header as browsers send it, which is what the cached object's key holds: lower-case
// scheme://host, the port only when it is not the scheme's default, nothing after (reference §4.4).
std::variant<std::string, IntakeError> normalise_origin(std::string_view value,
                                                        std::string_view path,
                                                        std::string_view item) {
  auto fail = [&](std::string_view text) {
    return make_error("invalid_origin_header", path,
                      fmt::format("Origin header {} {}", quote(value), text), item);
  };
  const std::size_t scheme_length = http_scheme_length(value);
  if (scheme_length == 0) return fail("must start with http:// or https://");
  const std::string scheme = ascii_lower(value.substr(0, scheme_length));
  const std::string_view authority = value.substr(scheme_length + 3);
  if (authority.find_first_of("/?#@") != std::string_view::npos) {
    return fail("must be scheme://host[:port] with no path");
  }
  std::string_view host = authority;
  std::optional<unsigned> port;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = parse_port(authority.substr(colon + 1));
    if (!port) return fail("has an invalid port");
    if (*port == (scheme == "https" ? 443U : 80U)) {
      return fail("must omit the default port, as browsers do");
    }
  }
  const std::string host_lower = ascii_lower(host);
  // The origin is the visitor's page, not a zone of ours, so an IPv4 address is legitimate here.
  if (!is_valid_hostname(host_lower) && !is_ipv4(host_lower)) return fail("has an invalid host");
  std::string out = scheme + "://" + host_lower;
  if (port) out += fmt::format(":{}", *port);
  return out;
}

std::variant<std::vector<Header>, IntakeError> validate_headers(const json::object& headers,
                                                                std::string_view path,
                                                                std::string_view item) {
  if (headers.size() > kMaxFileHeaders) {
    return make_error("too_many_headers", path,
                      fmt::format("{} has {} headers; at most {} are allowed", quote(item),
                                  headers.size(), kMaxFileHeaders),
                      item);
  }
  std::vector<Header> out;
  std::unordered_set<std::string> seen;
  for (const auto& member : headers) {
    const std::string_view name = member.key();
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
      return make_error("invalid_header", path,
                        fmt::format("header name {} is not an HTTP token", quote(name)), item);
    }
    if (!member.value().is_string()) {
      return make_error("invalid_header", path,
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
          "invalid_header", path,
          fmt::format("header {} value {} must be printable ASCII", quote(name), quote(value)),
          item);
    }
    const std::string name_lower = ascii_lower(name);
    if (!seen.insert(name_lower).second) {
      return make_error(
          "duplicate_header", path,
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

std::string entry_as_item(const json::value& entry) {
  if (entry.is_string()) return std::string(entry.get_string());
  if (entry.is_object()) {
    if (const auto* url = entry.get_object().if_contains("url"); url && url->is_string()) {
      return std::string(url->get_string());
    }
  }
  return json::serialize(entry);
}

struct Member {
  std::string_view key;
  Kind kind;
  const json::value* value;
};

std::optional<Kind> kind_of_member(std::string_view key) {
  for (int k = 0; k < kKindCount; ++k) {
    const auto kind = static_cast<Kind>(k);
    if (key == body_key(kind)) return kind;
  }
  return std::nullopt;
}

std::string merge_key(std::size_t zone_index, const Item& item) {
  return fmt::format("{}\x1f{}\x1f{}", zone_index, static_cast<int>(item.kind), item.key());
}

// Boost.JSON's own parser handler (a value_stack fed by basic_parser), plus a check that no
// object names a member twice, and enough of a path ("files[2].headers") to say where. One pass.
class CheckedHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  CheckedHandler() { stack_.reset(); }

  json::value release() { return stack_.release(); }
  [[nodiscard]] const std::optional<IntakeError>& duplicate() const { return duplicate_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open(true);
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    close();
    stack_.push_object(n);
    return value_done();
  }
  bool on_array_begin(json::error_code&) {
    open(false);
    return true;
  }
  bool on_array_end(std::size_t n, json::error_code&) {
    close();
    stack_.push_array(n);
    return value_done();
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    key_in_parts_ = true;
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    Frame& frame = frames_[depth_ - 1];
    std::string_view key(s.data(), s.size());
    if (key_in_parts_) {
      key_.append(s.data(), s.size());
      key = key_;
    }
    if (!frame.add(key)) {
      duplicate_ = make_error(
          "duplicate_key", where(),
          fmt::format("duplicate member {} {}; JSON parsers disagree on which one counts, so "
                      "purgeq refuses to guess: give each member once",
                      quote(key), depth_ == 1 ? "in the request body" : "in one object"),
          key);
      ec = json::error::syntax;
      return false;
    }
    frame.key.assign(key);
    key_.clear();
    key_in_parts_ = false;
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_string(s);
    return value_done();
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    stack_.push_int64(i);
    return value_done();
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack_.push_uint64(u);
    return value_done();
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack_.push_double(d);
    return value_done();
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return value_done();
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return value_done();
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // One open object or array. Frames are reused as the depth goes up and down, so a body of a
  // million small objects allocates a handful of frames, not a million.
  struct Frame {
    bool object = false;
    std::size_t index = 0;                 // arrays: the element being read
    std::string key;                       // objects: the member being read
    std::vector<std::string> keys;         // objects: members so far, searched linearly while few
    std::unordered_set<std::string> many;  // ... and hashed once there are many

    void reset(bool is_object) {
      object = is_object;
      index = 0;
      key.clear();
      keys.clear();
      many.clear();
    }
    // False when `name` was seen before in this object.
    bool add(std::string_view name) {
      static constexpr std::size_t kLinear = 16;
      if (keys.size() < kLinear) {
        if (std::find(keys.begin(), keys.end(), name) != keys.end()) return false;
        keys.emplace_back(name);
        if (keys.size() == kLinear) many.insert(keys.begin(), keys.end());
        return true;
      }
      return many.emplace(name).second;
    }
  };

  void open(bool object) {
    if (depth_ == frames_.size()) frames_.emplace_back();
    frames_[depth_++].reset(object);
  }
  void close() { --depth_; }
  // A value is complete: the next one in an enclosing array has the next index.
  bool value_done() {
    if (depth_ > 0 && !frames_[depth_ - 1].object) ++frames_[depth_ - 1].index;
    return true;
  }
  // "files[2].headers": the object holding the current key; "" for the body itself.
  std::string where() const {
    std::string path;
    for (std::size_t i = 0; i + 1 < depth_; ++i) {
      const Frame& frame = frames_[i];
      if (frame.object) {
        if (!path.empty()) path += '.';
        path += utf8_prefix(frame.key, kQuoteLimit);
      } else {
        path += fmt::format("[{}]", frame.index);
      }
    }
    return path;
  }

  json::value_stack stack_;
  std::vector<Frame> frames_;
  std::size_t depth_ = 0;
  std::string key_;  // a key arriving in parts (long, or with escapes)
  bool key_in_parts_ = false;
  std::optional<IntakeError> duplicate_;
};

}  // namespace

std::string bounded_item(std::string_view item) {
  if (item.size() <= kMaxErrorItemBytes) return std::string(item);
  return fmt::format("{}... ({} bytes)", utf8_prefix(item, kMaxErrorItemBytes), item.size());
}

std::variant<json::value, IntakeError> parse_json_body(std::string_view text) {
  // The options and depth limit json::parse uses.
  json::basic_parser<CheckedHandler> parser{json::parse_options{}};
  json::error_code ec;
  const auto used = parser.write_some(false, text.data(), text.size(), ec);
  if (const auto& duplicate = parser.handler().duplicate()) return *duplicate;
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) {
    return make_error("invalid_json", {},
                      fmt::format("request body is not valid JSON: {}", ec.message()), {});
  }
  return parser.handler().release();
}

std::variant<Item, IntakeError> validate_file(const json::value& entry, std::string_view path) {
  const std::string item = entry_as_item(entry);
  if (entry.is_string()) {
    auto url = normalise_url(entry.get_string(), path, item);
    if (auto* error = std::get_if<IntakeError>(&url)) return std::move(*error);
    return Item{Kind::file, std::move(std::get<std::string>(url)), {}};
  }
  if (!entry.is_object()) {
    return make_error("invalid_file_entry", path,
                      fmt::format("expected a URL string or a {{\"url\", \"headers\"}} object, "
                                  "got {}",
                                  type_name(entry)),
                      item);
  }
  const auto& object = entry.get_object();
  for (const auto& member : object) {
    if (member.key() != "url" && member.key() != "headers") {
      return make_error("invalid_file_entry", path,
                        fmt::format("unknown member {} in a file object (only \"url\" and "
                                    "\"headers\" are allowed)",
                                    quote(member.key())),
                        item);
    }
  }
  const auto* url_value = object.if_contains("url");
  if (url_value == nullptr) {
    return make_error("invalid_file_entry", path, "file object has no \"url\"", item);
  }
  if (!url_value->is_string()) {
    return make_error("invalid_file_entry", path,
                      fmt::format("\"url\" must be a string, got {}", type_name(*url_value)), item);
  }
  auto url = normalise_url(url_value->get_string(), path, item);
  if (auto* error = std::get_if<IntakeError>(&url)) return std::move(*error);
  Item result{Kind::file, std::move(std::get<std::string>(url)), {}};
  if (const auto* headers = object.if_contains("headers")) {
    if (!headers->is_object()) {
      return make_error("invalid_file_entry", path,
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
  auto fail = [&](std::string_view code, std::string_view text) {
    return make_error(code, path, text, tag);
  };
  if (tag.size() > kMaxTagLength) {
    return fail("tag_too_long", fmt::format("tag longer than {} characters", kMaxTagLength));
  }
  if (tag.empty()) return fail("invalid_tag", "empty tag");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(tag); };
  if (tag.find(' ') != std::string_view::npos) {
    return fail("invalid_tag", fmt::format("{} contains a space, which tags cannot", q()));
  }
  if (!std::all_of(tag.begin(), tag.end(), [](char c) { return c >= 0x21 && c <= 0x7e; })) {
    return fail("invalid_tag", fmt::format("{} has characters outside printable ASCII", q()));
  }
  // Cache-Tag headers separate tags with commas, so no cached object can carry a tag containing
  // one; the caller most likely meant several tags.
  if (tag.find(',') != std::string_view::npos) {
    return fail("invalid_tag",
                fmt::format("{} contains ','; Cache-Tag separates tags with commas, give each tag "
                            "separately",
                            q()));
  }
  return Item{Kind::tag, std::string(tag), {}};
}

std::variant<Item, IntakeError> validate_host(std::string_view host, std::string_view path) {
  auto fail = [&](std::string_view code, std::string_view text) {
    return make_error(code, path, text, host);
  };
  if (host.empty()) return fail("invalid_host", "empty hostname");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(host); };
  if (std::any_of(host.begin(), host.end(), is_ascii_control_or_space)) {
    return fail("invalid_host", fmt::format("{} contains whitespace or control characters", q()));
  }
  if (const auto scheme = host.find("://"); scheme != std::string_view::npos) {
    const std::string_view rest = host.substr(scheme + 3);
    return fail("invalid_host", fmt::format("{} must be a bare hostname without a scheme (use {})",
                                            q(), quote(rest.substr(0, rest.find_first_of("/?#")))));
  }
  if (host.find_first_of("/?#") != std::string_view::npos) {
    return fail("invalid_host",
                fmt::format("{} must be a bare hostname without a path (use a prefix to purge a "
                            "path)",
                            q()));
  }
  if (host.find('*') != std::string_view::npos) {
    return fail("invalid_host", fmt::format("{} is a wildcard; name each host", q()));
  }
  if (host.find(':') != std::string_view::npos) {
    return fail("invalid_host", fmt::format("{} must be a bare hostname without a port", q()));
  }
  if (host.size() > kMaxHostLength) {
    return fail("host_too_long", fmt::format("hostname longer than {} characters", kMaxHostLength));
  }
  std::string value = ascii_lower(host);
  if (!is_valid_hostname(value)) {
    if (looks_like_ip(value)) {
      return fail("invalid_host",
                  fmt::format("{} is an IP address; Cloudflare zones are hostnames", q()));
    }
    return fail("invalid_host", fmt::format("{} is not a valid hostname", q()));
  }
  return Item{Kind::host, std::move(value), {}};
}

std::variant<Item, IntakeError> validate_prefix(std::string_view prefix, std::string_view path) {
  auto fail = [&](std::string_view code, std::string_view text) {
    return make_error(code, path, text, prefix);
  };
  if (prefix.size() > kMaxPrefixLength) {
    return fail("prefix_too_long",
                fmt::format("prefix longer than {} characters (purgeq's limit)", kMaxPrefixLength));
  }
  if (prefix.empty()) return fail("invalid_prefix", "empty prefix");
  // Quoted only when a message needs it: most items are valid.
  auto q = [&] { return quote(prefix); };
  if (std::any_of(prefix.begin(), prefix.end(), is_ascii_control_or_space)) {
    return fail("invalid_prefix", fmt::format("{} contains whitespace or control characters", q()));
  }
  if (const auto scheme = prefix.find("://"); scheme != std::string_view::npos) {
    return fail("invalid_prefix", fmt::format("{} must not include a scheme (use {})", q(),
                                              quote(prefix.substr(scheme + 3))));
  }
  if (prefix.find_first_of("?#") != std::string_view::npos) {
    return fail("invalid_prefix",
                fmt::format("{} must not contain a query string or fragment; a prefix already "
                            "matches every query string",
                            q()));
  }
  const auto slash = std::min(prefix.find('/'), prefix.size());
  const std::string_view host = prefix.substr(0, slash);
  const std::string_view rest = prefix.substr(slash);
  if (host.empty())
    return fail("invalid_prefix", fmt::format("{} must start with a hostname", q()));
  if (host.find(':') != std::string_view::npos) {
    return fail("invalid_prefix", fmt::format("{} must not include a port", q()));
  }
  std::string value = ascii_lower(host);
  if (!is_valid_hostname(value)) return fail("invalid_host", invalid_host_text(q(), host));
  const auto slashes = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '/'));
  if (slashes > kMaxPrefixSlashes) {
    return fail("prefix_too_many_slashes",
                fmt::format("{} has {} '/' characters; Cloudflare allows at most {}", q(), slashes,
                            kMaxPrefixSlashes));
  }
  if (std::any_of(rest.begin(), rest.end(), is_non_ascii)) {
    return fail("invalid_prefix",
                fmt::format("{} has non-ASCII characters in its path; percent-encode them", q()));
  }
  // Cloudflare matches prefixes against normalised paths, which never hold a dot-segment: such a
  // prefix would purge nothing or, resolved, something other than it says ("a/../../etc").
  if (has_dot_segment(rest)) {
    return fail("invalid_prefix",
                fmt::format("{} has a \".\" or \"..\" path segment; cached paths never do (clients "
                            "and Cloudflare's URL normalization resolve them), so write the path "
                            "without them",
                            q()));
  }
  value += rest;
  return Item{Kind::prefix, std::move(value), {}};
}

std::variant<ParsedIntent, IntakeError> parse_intent(const json::value& body, const Config& config,
                                                     IntakeFlavor flavor,
                                                     std::optional<std::size_t> forced_zone) {
  const bool cloudflare = flavor == IntakeFlavor::cloudflare;
  auto body_error = [](std::string_view code, std::string_view text) {
    return make_error(code, {}, text, {});
  };
  if (!body.is_object()) {
    return body_error("invalid_body",
                      fmt::format("request body must be a JSON object, got {}", type_name(body)));
  }

  // Shape first, so a misnamed or mistyped member is reported before any item in it.
  std::vector<Member> members;
  const json::value* zone_member = nullptr;
  for (const auto& member : body.get_object()) {
    const std::string_view key = member.key();
    if (!cloudflare && key == "zone") {
      zone_member = &member.value();
      continue;
    }
    const auto kind = kind_of_member(key);
    if (!kind) {
      if (cloudflare && key == "zone") {
        return body_error("unknown_field",
                          "unknown member \"zone\": the URL path already names the zone");
      }
      return body_error(
          "unknown_field",
          fmt::format("unknown member {} (expected {})", quote(key),
                      cloudflare ? "one of files, tags, hosts, prefixes or purge_everything"
                                 : "files, tags, hosts, prefixes, purge_everything or zone"));
    }
    members.push_back(Member{key, *kind, &member.value()});
  }
  if (cloudflare) {
    const bool has_everything = std::any_of(
        members.begin(), members.end(), [](const Member& m) { return m.kind == Kind::everything; });
    if (has_everything && members.size() > 1) {
      return body_error("purge_everything_not_alone",
                        "request cannot contain \"purge_everything\" and any of \"files\", "
                        "\"tags\", \"hosts\" or \"prefixes\"");
    }
    if (members.size() > 1) {
      return body_error("mixed_kinds",
                        fmt::format("request must contain exactly one of \"files\", \"tags\", "
                                    "\"hosts\" or \"prefixes\", got \"{}\" and \"{}\"",
                                    members[0].key, members[1].key));
    }
    if (members.empty()) {
      return body_error("no_kind",
                        "request must contain one of \"purge_everything\", \"files\", \"tags\", "
                        "\"hosts\" or \"prefixes\"");
    }
  }
  std::size_t item_count = 0;
  for (const auto& member : members) {
    if (member.kind == Kind::everything) {
      if (!member.value->is_bool() || !member.value->get_bool()) {
        return body_error(
            "invalid_purge_everything",
            fmt::format("\"purge_everything\" must be true, got {}",
                        member.value->is_bool() ? "false" : type_name(*member.value)));
      }
      ++item_count;
    } else if (!member.value->is_array()) {
      return body_error("not_an_array", fmt::format("\"{}\" must be an array, got {}", member.key,
                                                    type_name(*member.value)));
    } else {
      item_count += member.value->get_array().size();
    }
  }
  // Before any item is looked at: a million items must cost a count, not a million validations.
  const auto max_items = config.intake.max_items_per_intent;
  if (max_items > 0 && item_count > static_cast<std::size_t>(max_items)) {
    return body_error(
        "too_many_items",
        fmt::format("the intent has {} items and intake.max_items_per_intent is {}; split it into "
                    "several intents",
                    item_count, max_items));
  }

  // The zone every item must belong to, when one is named.
  std::optional<std::size_t> explicit_zone;
  if (cloudflare) {
    if (!forced_zone || *forced_zone >= config.zones.size()) {
      return body_error("unknown_zone", "the URL path names no configured zone");
    }
    explicit_zone = forced_zone;
  } else if (zone_member != nullptr) {
    if (!zone_member->is_string() || zone_member->get_string().empty()) {
      return body_error(
          "invalid_zone",
          fmt::format("\"zone\" must be a zone name or id, got {}",
                      zone_member->is_string() ? "an empty string" : type_name(*zone_member)));
    }
    const std::string_view wanted = zone_member->get_string();
    for (std::size_t i = 0; i < config.zones.size(); ++i) {
      if (config.zones[i].name == wanted || config.zones[i].id == wanted) {
        explicit_zone = i;
        break;
      }
    }
    if (!explicit_zone) {
      return body_error(
          "unknown_zone",
          fmt::format("unknown zone {} (not a configured zone name or id)", quote(wanted)));
    }
  }
  if (item_count == 0) {
    return body_error("empty_intent",
                      "nothing to purge: no files, tags, hosts, prefixes or purge_everything");
  }
  // Tags and purge_everything carry no host to route by.
  std::optional<std::size_t> hostless_zone = explicit_zone;
  if (!hostless_zone && config.zones.size() == 1) hostless_zone = 0;
  auto zone_required = [&](std::string_view path, std::string_view what, std::string_view item) {
    return make_error(
        "zone_required", path,
        fmt::format("{} needs \"zone\" because {} zones are configured", what, config.zones.size()),
        item);
  };

  ParsedIntent intent;
  intent.items.reserve(item_count);
  std::unordered_set<std::string> seen;
  auto add = [&](std::size_t zone_index, Item item) {
    if (seen.insert(merge_key(zone_index, item)).second) {
      intent.items.push_back(RoutedItem{zone_index, std::move(item)});
    }
  };

  for (const auto& member : members) {
    if (member.kind == Kind::everything) {
      if (!hostless_zone) return zone_required({}, "purge_everything", "purge_everything");
      add(*hostless_zone, Item{Kind::everything, {}, {}});
      continue;
    }
    const auto& entries = member.value->get_array();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& entry = entries[i];
      const std::string path = fmt::format("{}[{}]", member.key, i);
      std::variant<Item, IntakeError> validated;
      if (member.kind == Kind::file) {
        validated = validate_file(entry, path);
      } else if (!entry.is_string()) {
        return make_error("not_a_string", path,
                          fmt::format("expected a string, got {}", type_name(entry)),
                          json::serialize(entry));
      } else if (member.kind == Kind::tag) {
        validated = validate_tag(entry.get_string(), path);
      } else if (member.kind == Kind::host) {
        validated = validate_host(entry.get_string(), path);
      } else {
        validated = validate_prefix(entry.get_string(), path);
      }
      if (auto* error = std::get_if<IntakeError>(&validated)) return std::move(*error);
      Item item = std::move(std::get<Item>(validated));

      if (item.kind == Kind::tag) {
        if (!hostless_zone) return zone_required(path, "purging by tag", entry_as_item(entry));
        add(*hostless_zone, std::move(item));
        continue;
      }
      const std::string_view host = item_host(item);
      if (explicit_zone) {
        const Zone& zone = config.zones[*explicit_zone];
        if (!zone_owns_host(zone, host)) {
          return make_error("host_not_in_zone", path,
                            fmt::format("host \"{}\" is not in zone {}", host, zone.name),
                            entry_as_item(entry));
        }
        add(*explicit_zone, std::move(item));
        continue;
      }
      const auto routed = route_host(config, host);
      if (!routed) {
        return make_error("no_zone_for_host", path,
                          fmt::format("no configured zone owns host \"{}\"", host),
                          entry_as_item(entry));
      }
      add(*routed, std::move(item));
    }
  }
  return intent;
}

}  // namespace purgeq
