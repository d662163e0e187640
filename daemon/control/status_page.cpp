// Serving the page's files.
#include "control/status_page.h"

#include <fmt/format.h>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <string>

namespace purgeq {
namespace {

namespace http = boost::beast::http;

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

HttpResponseMessage page_file(const HttpRequestMessage& request, std::string_view name) {
  const bool page = name.empty();
  if (page) name = "index.html";
  const std::string_view text =
      (!page && name == "index.html") || name.find('/') != std::string_view::npos
          ? std::string_view()
          : embedded_page_file(name);
  if (text.empty()) {
    return error_response(
        request, ErrorDialect::native,
        ErrorAnswer{ErrorCode::not_found, fmt::format("the status page has no file \"{}\"",
                                                      std::string(name.substr(0, 64)))});
  }
  HttpResponseMessage response{http::status::ok, request.version()};
  response.set(http::field::content_type, content_type_of(name));
  response.set(http::field::server, "purgeqd/" PURGEQ_VERSION);
  response.set("Content-Security-Policy", kPageSecurityPolicy);
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  // The page is small and changes with the binary: always fresh after an upgrade.
  response.set(http::field::cache_control, "no-store");
  response.body() = std::string(text);
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  return response;
}

}  // namespace purgeq
