// How the daemon's requests leave: an HTTP POST (or GET) and, later, its answer. Behind an
// interface so that the delivery driver and the hook runner are tested (and simulated) with a
// transport of the test's own; http_client.h is the real one (libcurl's multi interface on the
// event loop).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace purgeq {

struct HttpRequest {
  // POST for purges and hooks; GET for what the daemon reads (zone lookups, token checks).
  enum class Method : unsigned char { post, get };
  Method method = Method::post;
  std::string url;
  std::vector<std::string> headers;  // "Name: value" lines, e.g. "Authorization: Bearer ..."
  std::string body;                  // sent as POST; a GET sends none
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  // Empty when a complete HTTP response arrived; otherwise curl's reason (timeout, refused, ...).
  std::string transport_error;
  long status = 0;  // HTTP status; 0 with transport_error
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // parsed Retry-After (delta-seconds) if present
};

class Transport {
 public:
  using Handler = std::function<void(HttpResponse)>;
  virtual ~Transport() = default;
  // Starts the request (a POST or a GET, as it says). `done` is called exactly once, later (never
  // inside this call), on the caller's thread -- unless the transport is destroyed first.
  virtual void post(HttpRequest request, Handler done) = 0;
  // Aborts every request; their handlers run with transport_error "cancelled".
  virtual void cancel_all() = 0;
};

}  // namespace purgeq
