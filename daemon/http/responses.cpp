// JSON answers and the two spellings of an error.
#include "http/responses.h"

#include <boost/json.hpp>
#include <string>

namespace purgeq {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

HttpResponseMessage make_json(unsigned version, bool keep_alive, http::status status,
                              const json::value& body) {
  HttpResponseMessage response{status, version};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::server, "purgeqd/" PURGEQ_VERSION);
  response.body() = json::serialize(body);
  response.body() += '\n';
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

json::value error_body(ErrorDialect dialect, const ErrorInfo& info, const ErrorAnswer& error) {
  if (dialect == ErrorDialect::cloudflare) {
    return json::object{{"success", false},
                        {"errors", json::array{json::object{{"code", info.cloudflare_code},
                                                            {"message", error.message}}}},
                        {"messages", json::array{}},
                        {"result", nullptr}};
  }
  json::object body{{"code", info.name}, {"message", error.message}};
  if (!error.item.empty()) body["item"] = error.item;
  return json::object{{"error", std::move(body)}};
}

HttpResponseMessage make_error(unsigned version, bool keep_alive, ErrorDialect dialect,
                               const ErrorAnswer& error) {
  const ErrorInfo& info = error_info(error.code);
  auto response = make_json(version, keep_alive, static_cast<http::status>(info.http_status),
                            error_body(dialect, info, error));
  const std::int64_t retry_after = error.retry_after_s.value_or(info.retry_after_s);
  if (retry_after > 0) response.set(http::field::retry_after, std::to_string(retry_after));
  return response;
}

}  // namespace

HttpResponseMessage json_response(const HttpRequestMessage& request, http::status status,
                                  const json::value& body) {
  return make_json(request.version(), request.keep_alive(), status, body);
}

HttpResponseMessage error_response(const HttpRequestMessage& request, ErrorDialect dialect,
                                   const ErrorAnswer& error) {
  return make_error(request.version(), request.keep_alive(), dialect, error);
}

HttpResponseMessage error_response(ErrorDialect dialect, const ErrorAnswer& error) {
  return make_error(11, false, dialect, error);
}

HttpResponseMessage cloudflare_accepted(const HttpRequestMessage& request, std::string_view id) {
  return json_response(request, http::status::ok,
                       json::object{{"success", true},
                                    {"errors", json::array{}},
                                    {"messages", json::array{}},
                                    {"result", json::object{{"id", id}}}});
}

}  // namespace purgeq
