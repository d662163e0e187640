#include "store/row_text.h"

#include <boost/json.hpp>

namespace purgeq {

std::string encode_headers(const std::vector<Header>& headers) {
  if (headers.empty()) return {};
  boost::json::array array;
  for (const auto& [name, value] : headers) array.push_back(boost::json::array{name, value});
  return boost::json::serialize(array);
}

std::vector<Header> decode_headers(std::string_view text) {
  std::vector<Header> headers;
  if (text.empty()) return headers;
  boost::system::error_code ec;
  const auto value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return headers;
  for (const auto& pair : value.get_array()) {
    const auto* entry = pair.if_array();
    if (entry == nullptr || entry->size() != 2 || !(*entry)[0].is_string() ||
        !(*entry)[1].is_string()) {
      continue;
    }
    headers.emplace_back(std::string((*entry)[0].get_string()),
                         std::string((*entry)[1].get_string()));
  }
  return headers;
}

std::string join_zones(std::span<const std::string> zone_ids) {
  std::string zones;
  for (const auto& zone : zone_ids) {
    if (!zones.empty()) zones += ',';
    zones += zone;
  }
  return zones;
}

std::vector<std::string> split_zones(std::string_view text) {
  std::vector<std::string> zones;
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    if (comma > start) zones.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return zones;
}

}  // namespace purgeq
