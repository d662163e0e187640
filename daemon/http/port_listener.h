// Small TCP listeners for local tools, served by the HTTP server (http/http_server.h) like the
// socket and the TCP listener: the metrics port (`metrics.listen`, GET /metrics for Prometheus)
// and `purgeq dashboard`'s page proxy on 127.0.0.1. Errors are purgeqd's JSON; a few connections
// at a time are plenty (a scraper, one person's browser). What is answered is the owner's screen
// and handler: the listener knows no routes and no tokens.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/connection_counter.h"
#include "http/http_server.h"

namespace purgeq {

// The ports, by the name their log lines carry (`listener=metrics`) and the key their errors name.
struct MetricsPort {
  static constexpr std::string_view kName = "metrics";
  static constexpr std::string_view kKey = "metrics.listen";
};
struct DashboardPort {
  static constexpr std::string_view kName = "dashboard";
  static constexpr std::string_view kKey = "purgeq dashboard --port";
};

struct PortListenerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port
  // Neither port takes bodies worth the name (a retry's POST is empty).
  std::size_t body_limit = std::size_t{64} * 1024;
  std::chrono::milliseconds header_deadline{10'000};
  std::chrono::milliseconds io_deadline{30'000};
  std::size_t max_connections = 16;
  std::chrono::milliseconds refusal_linger{1000};
};

template <class Port>
struct PortTransport {
  using Protocol = boost::asio::ip::tcp;
  using Peer = std::string;  // the address, for logs
  static constexpr std::string_view kName = Port::kName;
  static constexpr ErrorDialect kDialect = ErrorDialect::native;

  static Peer identify(Protocol::socket& socket);
  static std::string log_fields(const Peer& remote) { return "remote=" + remote; }
  std::optional<ConnectionRefusal> admit(const Peer& remote);
  void release(const Peer&) { --open; }

  std::size_t max_connections = 0;
  std::size_t open = 0;
};

template <class Port>
class PortListener {
 public:
  using Server = HttpServer<PortTransport<Port>>;
  using Handler = typename Server::Handler;
  using Screen = typename Server::Screen;

  // Binds at once (a taken port fails the start with the key and the reason); accepts after
  // start().
  PortListener(boost::asio::io_context& io, Screen screen, Handler handler,
               const PortListenerOptions& options);
  PortListener(const PortListener&) = delete;
  PortListener& operator=(const PortListener&) = delete;

  void start() { server_.start(); }
  void on_refusal(typename Server::RefusalCount count) { server_.on_refusal(std::move(count)); }
  // Stops accepting and closes idle connections; requests being handled finish.
  void stop() { server_.stop(); }
  // After stop(): `done` (posted) once every session has ended, or at `deadline`.
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
    server_.drain(deadline, std::move(done));
  }
  [[nodiscard]] unsigned short port();
  [[nodiscard]] std::size_t connections() const { return server_.connections(); }

 private:
  Server server_;
};

extern template class PortListener<MetricsPort>;
extern template class PortListener<DashboardPort>;
using MetricsListener = PortListener<MetricsPort>;
using DashboardListener = PortListener<DashboardPort>;

}  // namespace purgeq
