// POST /v1/purge bodies as text, cut from a stream of items so that each stays under purgeqd's
// limits: the request body cap and intake.max_items_per_intent. A list of any length becomes as
// many intents as it needs, each body built in bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_args.h"
#include "cli/item_stream.h"

namespace purgeq::cli {

// purgeqd's request body cap (daemon/intake/listener.h, 8 MiB): a bigger body is answered 413.
inline constexpr std::size_t kDaemonMaxBodyBytes = std::size_t{8} * 1024 * 1024;
// The default of intake.max_items_per_intent (docs/configuration.md).
inline constexpr std::size_t kDaemonMaxItems = 250'000;

// What one intent may hold. Starts at the daemon's defaults; lowered when purgeqd answers 413
// (its config may be stricter, or a URL may expand into several cache-key variants).
struct ChunkCaps {
  std::size_t max_body_bytes = kDaemonMaxBodyBytes;  // >= the body of one item
  std::size_t max_items = kDaemonMaxItems;           // >= 1
};

// The fixed parts of a submit command's body ("zone", "priority", the items' key, -H headers),
// and each item's JSON text, so a body's exact size is known before it is built.
class PurgeBody {
 public:
  explicit PurgeBody(const CliRequest& request);

  // One element of the items array: "url" (JSON string), or {"url":..,"headers":{..}} with -H.
  [[nodiscard]] std::string item_json(std::string_view item) const;
  // The body's size with these items (item_json texts).
  [[nodiscard]] std::size_t size(std::size_t item_count, std::size_t item_bytes) const;
  // The body itself; for `everything` (no items array) the items are ignored.
  [[nodiscard]] std::string text(const std::vector<std::string>& item_jsons) const;

 private:
  std::string head_;          // up to and including the items array's '['
  std::string tail_;          // "]}" (or the whole body after head_ for everything)
  std::string headers_json_;  // -H headers as a JSON object, empty without -H

  static std::string fmt_head(std::string text, std::string_view key);
};

// A run of consecutive items for one intent.
struct Chunk {
  std::vector<std::string> item_jsons;  // each PurgeBody::item_json
  std::size_t item_bytes = 0;           // sum of item_jsons' sizes
  std::uint64_t first = 0;              // 0-based index of its first item in the whole input
};

// Cuts `items` into chunks under the current caps. Chunks handed back for splitting (a 413)
// come out again before any new item is read.
class IntentChunker {
 public:
  IntentChunker(ItemStream& items, const PurgeBody& body) : items_(items), body_(body) {}

  // The next chunk; nullopt at the end of the items or on an item error (items().error()).
  [[nodiscard]] std::optional<Chunk> next();

  // purgeqd refused `chunk` as too large: lowers the caps below what it held (to `limit` when
  // the daemon named one) and queues its items again, cut under the new caps (taking them out
  // of `chunk`). False, leaving `chunk` as it was, when it holds a single item: nothing smaller
  // can be sent.
  [[nodiscard]] bool refused(Chunk& chunk, bool body_limit, std::optional<std::uint64_t> limit);

  [[nodiscard]] const ChunkCaps& caps() const { return caps_; }
  void set_caps(const ChunkCaps& caps) { caps_ = caps; }
  [[nodiscard]] const PurgeBody& body() const { return body_; }

 private:
  // Whether `chunk` can take an item of `bytes` more.
  [[nodiscard]] bool fits(const Chunk& chunk, std::size_t bytes) const;

  ItemStream& items_;
  const PurgeBody& body_;
  ChunkCaps caps_;
  std::deque<Chunk> again_;
  std::optional<std::string> held_;  // an item read that did not fit the previous chunk
  std::uint64_t next_index_ = 0;     // input index of the next new chunk's first item
};

}  // namespace purgeq::cli
