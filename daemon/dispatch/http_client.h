// Asynchronous HTTP client for Cloudflare: libcurl's multi interface driven by the Asio loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace purgeq {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value" lines, e.g. "Authorization: Bearer ..."
  std::string body;                  // sent as POST
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  // Empty when a complete HTTP response arrived; otherwise curl's reason (timeout, refused, ...).
  std::string transport_error;
  long status = 0;  // HTTP status; 0 with transport_error
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // parsed Retry-After (delta-seconds) if present
};

// All calls and completions happen on the io_context's thread. Not thread-safe by design.
class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& io);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Handler = std::function<void(HttpResponse)>;
  // Starts a POST. `done` is always called exactly once, later (never inside this call), on the
  // io_context thread -- unless the client is destroyed first.
  void post(HttpRequest request, Handler done);
  [[nodiscard]] std::size_t in_flight() const;
  // Aborts every transfer; their handlers run with transport_error "cancelled".
  void cancel_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace purgeq
