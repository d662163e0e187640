// Asynchronous HTTP client for Cloudflare: libcurl's multi interface driven by the Asio loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "io/transport.h"

namespace purgeq {

// All calls and completions happen on the io_context's thread. Not thread-safe by design.
class HttpClient final : public Transport {
 public:
  explicit HttpClient(boost::asio::io_context& io);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a POST. `done` is always called exactly once, later (never inside this call), on the
  // io_context thread -- unless the client is destroyed first.
  void post(HttpRequest request, Handler done) override;
  [[nodiscard]] std::size_t in_flight() const;
  // Aborts every transfer; their handlers run with transport_error "cancelled".
  void cancel_all() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace purgeq
