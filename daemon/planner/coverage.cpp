// The coverage rules between purge items: which pending purge makes another one redundant.
#include "planner/coverage.h"

#include <algorithm>

#include "model/ascii.h"
#include "model/url.h"

namespace purgeq {
namespace {

// A host as the rules accept it: non-empty and free of the characters that would make "host"
// mean something else (a port, user info, a path). The intent parser already guarantees this;
// checking again keeps a malformed stored item from claiming coverage.
bool plain_host(std::string_view host) {
  return !host.empty() && host.find_first_of(":@/?#[]") == std::string_view::npos;
}

std::optional<Reach> file_reach(std::string_view url) {
  // A fragment never changes what a URL reaches, so a stored URL is read without refusing one.
  const auto parsed = parse_url(url, Fragments::allow);
  const auto* parts = std::get_if<Url>(&parsed);
  // A port (even the scheme's default, which the parser keeps as written) is refused here: see
  // reach_of in the header.
  if (parts == nullptr || parts->port) return std::nullopt;
  // "https://a.example?x" requests "/" (RFC 3986 §6.2.3), as the parser normalises it.
  const std::string_view path = parts->path.empty() ? std::string_view("/") : parts->path;
  return Reach{ascii_lower(parts->host), path};
}

std::optional<Reach> prefix_reach(std::string_view prefix) {
  // Cloudflare documents that a prefix carrying a query or fragment matches nothing (§4.1).
  if (prefix.find_first_of("?#") != std::string_view::npos) return std::nullopt;
  const auto slash = std::min(prefix.find('/'), prefix.size());
  const std::string_view host = prefix.substr(0, slash);
  if (!plain_host(host)) return std::nullopt;
  return Reach{ascii_lower(host), prefix.substr(slash)};
}

}  // namespace

std::optional<Reach> reach_of(const Item& item) {
  switch (item.kind) {
    case Kind::file:
      return file_reach(item.value);
    case Kind::prefix:
      return prefix_reach(item.value);
    case Kind::host:
      if (!plain_host(item.value)) return std::nullopt;
      return Reach{ascii_lower(item.value), std::string_view()};
    case Kind::tag:
    case Kind::everything:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string coverage_key(const Item& item) {
  if (item.kind == Kind::host || item.kind == Kind::prefix) {
    if (auto reach = reach_of(item)) {
      reach->host += reach->path;
      return std::move(reach->host);
    }
  }
  return item.key();
}

bool covers(const Item& broad, const Item& narrow) {
  if (broad.kind == Kind::everything) return true;
  if (narrow.kind == Kind::everything) return false;
  if (broad.kind == narrow.kind && coverage_key(broad) == coverage_key(narrow)) return true;
  if (broad.kind != Kind::host && broad.kind != Kind::prefix) return false;  // tags, files
  if (narrow.kind != Kind::file && narrow.kind != Kind::prefix) return false;
  const auto outer = reach_of(broad);
  const auto inner = reach_of(narrow);
  if (!outer || !inner || outer->host != inner->host) return false;
  return broad.kind == Kind::host || path_within(outer->path, inner->path);
}

}  // namespace purgeq
