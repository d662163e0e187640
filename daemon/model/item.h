// Purge targets as purgeq stores, coalesces and sends them: the vocabulary every layer shares.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace purgeq {

// One kind per Cloudflare request; the numeric values are stored in SQLite, never renumber.
enum class Kind : std::uint8_t {
  file = 0,        // {"files": [...]}: exact cache-key purge, optionally with headers
  tag = 1,         // {"tags": [...]}
  host = 2,        // {"hosts": [...]}
  prefix = 3,      // {"prefixes": [...]}
  everything = 4,  // {"purge_everything": true}
};
inline constexpr int kKindCount = 5;

// "file", "tag", "host", "prefix", "everything" (singular, used in logs, metrics and config).
std::string_view to_string(Kind kind);
// Accepts the singular names above and the plural body keys ("files", "tags", ...).
std::optional<Kind> kind_from_string(std::string_view name);
// The JSON member Cloudflare expects: "files", "tags", "hosts", "prefixes", "purge_everything".
std::string_view body_key(Kind kind);

using Header = std::pair<std::string, std::string>;

// A validated, normalised purge target. Built only by intake's item rules (intake/item_rules.h)
// or read back from the store, so every instance satisfies Cloudflare's item rules.
struct Item {
  Kind kind = Kind::file;
  // file: absolute http(s) URL with the host lower-cased; tag: as given; host: lower-cased;
  // prefix: lower-cased host followed by the path as given; everything: empty.
  std::string value;
  // file only: cache-key headers, sorted by lower-cased name, names as given. Empty otherwise.
  std::vector<Header> headers;

  // Identity for de-duplication within one zone and kind: equal keys purge the same thing.
  // tag: lower-cased (Cloudflare tags are case-insensitive); file: URL plus canonical headers.
  [[nodiscard]] std::string key() const;

  friend bool operator==(const Item&, const Item&) = default;
};

}  // namespace purgeq
