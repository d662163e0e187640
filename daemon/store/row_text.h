// How both store backends keep a few values as text in their rows: an item's cache-key headers
// and the zones of an intent with hooks. One spelling, so that the two stores read each other's
// conventions the same way.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/item.h"

namespace purgeq {

// [["Name","value"],...] as JSON; "" for none.
std::string encode_headers(const std::vector<Header>& headers);
// A stored header list that does not parse (a damaged row) is read as none rather than stopping
// the queue: the URL is still purged, only without its cache-key variant.
std::vector<Header> decode_headers(std::string_view text);

// Zone ids joined by commas (zone ids are hex, so never contain one), and back.
std::string join_zones(std::span<const std::string> zone_ids);
std::vector<std::string> split_zones(std::string_view text);

}  // namespace purgeq
