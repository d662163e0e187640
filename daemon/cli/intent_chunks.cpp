// Cutting a submit command's items into intents under purgeqd's limits (see intent_chunks.h).
#include "cli/intent_chunks.h"

#include <algorithm>
#include <boost/json.hpp>

namespace purgeq::cli {
namespace {

namespace json = boost::json;

std::string_view items_key(Command command) {
  switch (command) {
    case Command::url:
      return "files";
    case Command::tag:
      return "tags";
    case Command::host:
      return "hosts";
    case Command::prefix:
      return "prefixes";
    default:
      return {};
  }
}

}  // namespace

PurgeBody::PurgeBody(const CliRequest& request) {
  // Members before the items, so the items array can grow at the end of the text.
  json::object fixed;
  if (!request.zone.empty()) fixed["zone"] = request.zone;
  if (!request.priority.empty()) fixed["priority"] = request.priority;
  const auto key = items_key(request.command);
  if (key.empty()) {
    if (request.command == Command::everything) fixed["purge_everything"] = true;
    head_ = json::serialize(fixed);
    return;
  }
  auto text = json::serialize(fixed);
  text.pop_back();  // '}'
  head_ = fmt_head(text, key);
  tail_ = "]}";
  if (!request.headers.empty()) {
    json::object headers;
    for (const auto& [name, value] : request.headers) headers[name] = value;
    headers_json_ = json::serialize(headers);
  }
}

std::string PurgeBody::fmt_head(std::string text, std::string_view key) {
  if (text.size() > 1) text += ',';
  text += json::serialize(json::string_view(key.data(), key.size()));
  text += ":[";
  return text;
}

std::string PurgeBody::item_json(std::string_view item) const {
  auto value = json::serialize(json::string_view(item.data(), item.size()));
  if (headers_json_.empty()) return value;
  return R"({"url":)" + value + R"(,"headers":)" + headers_json_ + "}";
}

std::size_t PurgeBody::size(std::size_t item_count, std::size_t item_bytes) const {
  return head_.size() + item_bytes + (item_count > 0 ? item_count - 1 : 0) + tail_.size();
}

std::string PurgeBody::text(const std::vector<std::string>& item_jsons) const {
  std::string out;
  std::size_t bytes = 0;
  for (const auto& item : item_jsons) bytes += item.size();
  out.reserve(size(item_jsons.size(), bytes));
  out += head_;
  if (!tail_.empty()) {
    for (std::size_t i = 0; i < item_jsons.size(); ++i) {
      if (i > 0) out += ',';
      out += item_jsons[i];
    }
  }
  out += tail_;
  return out;
}

bool IntentChunker::fits(const Chunk& chunk, std::size_t bytes) const {
  if (chunk.item_jsons.empty()) return true;  // an item always goes somewhere
  return chunk.item_jsons.size() < caps_.max_items &&
         body_.size(chunk.item_jsons.size() + 1, chunk.item_bytes + bytes) <= caps_.max_body_bytes;
}

std::optional<Chunk> IntentChunker::next() {
  if (!again_.empty()) {
    auto chunk = std::move(again_.front());
    again_.pop_front();
    return chunk;
  }
  Chunk chunk;
  chunk.first = next_index_;
  for (;;) {
    if (!held_) {
      auto item = items_.next();
      if (!item) break;
      held_ = body_.item_json(*item);
    }
    if (!fits(chunk, held_->size())) break;
    chunk.item_bytes += held_->size();
    chunk.item_jsons.push_back(std::move(*held_));
    held_.reset();
  }
  if (chunk.item_jsons.empty()) return std::nullopt;
  next_index_ += chunk.item_jsons.size();
  return chunk;
}

bool IntentChunker::refused(Chunk& chunk, bool body_limit, std::optional<std::uint64_t> limit) {
  const auto count = chunk.item_jsons.size();
  if (count <= 1) return false;
  if (body_limit) {
    const auto sent = body_.size(count, chunk.item_bytes);
    caps_.max_body_bytes = std::min<std::size_t>(
        caps_.max_body_bytes, limit && *limit < sent ? static_cast<std::size_t>(*limit) : sent / 2);
  } else {
    // Items the daemon counts may be more than were sent (cache-key variants), so its limit is
    // taken only when it is below what was sent; otherwise halve.
    caps_.max_items = std::min<std::size_t>(
        caps_.max_items, limit && *limit < count ? static_cast<std::size_t>(*limit) : count / 2);
  }
  caps_.max_items = std::max<std::size_t>(caps_.max_items, 1);
  // Cut the refused items again, with those already cut after them (they follow in the input),
  // in order, ahead of anything not read yet.
  std::vector<std::string> refused_items = std::move(chunk.item_jsons);
  for (auto& queued : again_) {
    for (auto& item : queued.item_jsons) refused_items.push_back(std::move(item));
  }
  again_.clear();
  std::vector<Chunk> pieces;
  Chunk piece;
  piece.first = chunk.first;
  for (auto& item : refused_items) {
    if (!fits(piece, item.size())) {
      const auto next_first = piece.first + piece.item_jsons.size();
      pieces.push_back(std::move(piece));
      piece = Chunk{};
      piece.first = next_first;
    }
    piece.item_bytes += item.size();
    piece.item_jsons.push_back(std::move(item));
  }
  pieces.push_back(std::move(piece));
  chunk = Chunk{};
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) again_.push_front(std::move(*it));
  return true;
}

}  // namespace purgeq::cli
