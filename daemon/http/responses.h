// The HTTP messages of the API and the answers every route and both listeners build from them:
// JSON bodies, errors in purgeqd's own shape or in Cloudflare's envelope, with the status and
// Retry-After the error table (http/error_code.h) gives each code.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http/error_code.h"

namespace purgeq {

using HttpRequestMessage = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponseMessage = boost::beast::http::response<boost::beast::http::string_body>;

// How errors are spelled on an endpoint. native: `{"error": {"code", "message", "item"}}` (the
// socket API). cloudflare: Cloudflare's v4 envelope with the table's Cloudflare code, so tools
// written for Cloudflare report it like any other API error.
enum class ErrorDialect { native, cloudflare };

// An error as the answer carries it: `item` only in the native dialect, and only when not empty;
// `retry_after_s` replaces the table's Retry-After (everything_too_soon computes its own).
struct ErrorAnswer {
  ErrorCode code;
  std::string_view message;
  std::string_view item = {};
  std::optional<std::int64_t> retry_after_s = std::nullopt;
};

// `body` serialised, with the request's HTTP version and keep-alive.
HttpResponseMessage json_response(const HttpRequestMessage& request,
                                  boost::beast::http::status status,
                                  const boost::json::value& body);
// The error with its table status, in `dialect`, keeping the request's keep-alive.
HttpResponseMessage error_response(const HttpRequestMessage& request, ErrorDialect dialect,
                                   const ErrorAnswer& error);
// The same for an answer given without a request read (a refused connection, an unreadable
// request): HTTP/1.1, and the connection closes after it.
HttpResponseMessage error_response(ErrorDialect dialect, const ErrorAnswer& error);
// Cloudflare's envelope of an accepted purge: `{"success": true, ..., "result": {"id": id}}`.
HttpResponseMessage cloudflare_accepted(const HttpRequestMessage& request, std::string_view id);

}  // namespace purgeq
