// The items a body stands for, as JSON.
#include "control/expand.h"

#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <variant>

#include "intake/intent_parser.h"

namespace purgeq {

HttpResponseMessage expand(const HttpRequestMessage& request, const Config& config) {
  namespace json = boost::json;
  const auto parsed = read_intent(request.body(), config);
  if (const auto* error = std::get_if<IntakeError>(&parsed)) {
    return error_response(request, ErrorDialect::native,
                          ErrorAnswer{error->code, error->message, error->item});
  }
  const auto& intent = std::get<ParsedIntent>(parsed);
  json::array items;
  items.reserve(intent.items.size());
  for (const auto& routed : intent.items) {
    json::object entry{{"zone", config.zones.at(routed.zone_index).name},
                       {"kind", to_string(routed.item.kind)},
                       {"value", routed.item.value}};
    if (!routed.item.headers.empty()) {
      json::object headers;
      for (const auto& [name, value] : routed.item.headers) headers[name] = value;
      entry["headers"] = std::move(headers);
    }
    items.push_back(std::move(entry));
  }
  json::object answer{{"items", std::move(items)}, {"count", intent.items.size()}};
  answer["variants"] = variants_json(intent);
  return json_response(request, boost::beast::http::status::ok, std::move(answer));
}

}  // namespace purgeq
