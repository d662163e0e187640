// Serialises a batch into one of Cloudflare's six body variants.
#include "dispatch/request_body.h"

#include <boost/json.hpp>

namespace purgeq {

std::string build_request_body(Kind kind, std::span<const Item* const> items) {
  boost::json::object body;
  if (kind == Kind::everything) {
    body["purge_everything"] = true;
    return boost::json::serialize(body);
  }
  boost::json::array list;
  list.reserve(items.size());
  for (const Item* item : items) {
    if (kind == Kind::file && !item->headers.empty()) {
      boost::json::object headers;
      for (const auto& [name, value] : item->headers) headers[name] = value;
      list.push_back(boost::json::object{{"url", item->value}, {"headers", std::move(headers)}});
    } else {
      list.emplace_back(item->value);
    }
  }
  body[body_key(kind)] = std::move(list);
  return boost::json::serialize(body);
}

}  // namespace purgeq
