// Kind names and the de-duplication key of an item.
#include "model/item.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "model/ascii.h"

namespace purgeq {
namespace {

struct KindNames {
  Kind kind;
  std::string_view singular;
  std::string_view plural;
};

constexpr std::array<KindNames, kKindCount> kNames{{
    {Kind::file, "file", "files"},
    {Kind::tag, "tag", "tags"},
    {Kind::host, "host", "hosts"},
    {Kind::prefix, "prefix", "prefixes"},
    {Kind::everything, "everything", "purge_everything"},
}};

}  // namespace

std::string_view to_string(Kind kind) {
  return kNames.at(static_cast<std::size_t>(kind)).singular;
}

std::string_view body_key(Kind kind) {
  return kNames.at(static_cast<std::size_t>(kind)).plural;
}

std::optional<Kind> kind_from_string(std::string_view name) {
  for (const auto& entry : kNames) {
    if (name == entry.singular || name == entry.plural) return entry.kind;
  }
  return std::nullopt;
}

std::string Item::key() const {
  switch (kind) {
    case Kind::tag:
      return ascii_lower(value);
    case Kind::everything:
      return "*";
    case Kind::file: {
      // Header names are case-insensitive in HTTP; values are compared exactly. '\n' cannot occur
      // in a valid URL or header, so it separates fields unambiguously.
      std::string key = value;
      for (const auto& [name, val] : headers) {
        key += '\n';
        key += ascii_lower(name);
        key += ':';
        key += val;
      }
      return key;
    }
    case Kind::host:
    case Kind::prefix:
      return value;
  }
  return value;
}

}  // namespace purgeq
