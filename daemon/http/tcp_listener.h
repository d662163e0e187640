// The optional TCP listener for Cloudflare API clients (SDKs, flarectl-style tools): binds one
// address (loopback unless the config says otherwise) and serves it with the HTTP server
// (http/http_server.h), errors in Cloudflare's envelope. It knows nothing of tokens or routes: its
// screen and handler (Api::screen_client, Api::handle_client) decide everything.
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

struct TcpListenerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;                                // 0: any free port (tests)
  std::size_t body_limit = std::size_t{8} * 1024 * 1024;  // intake.max_body_bytes
  // A request's header, and an idle keep-alive connection's next one, must arrive within this:
  // a slow client cannot hold a slot for long without sending a request.
  std::chrono::milliseconds header_deadline{10'000};
  std::chrono::milliseconds io_deadline{30'000};  // per body read and per write
  std::size_t max_connections = 256;              // tcp.max_connections
  // A refused connection's answer is followed by reading (and dropping) what the client still
  // sends for up to this long: closing on unread data resets the connection, and the client
  // would see a broken pipe instead of the answer.
  std::chrono::milliseconds refusal_linger{1000};
};

// The TCP side of the HTTP server: the peer is its address ("127.0.0.1:53122", for logs: the
// screen must not trust it for access), admitted while fewer than max_connections are open.
struct TcpTransport {
  using Protocol = boost::asio::ip::tcp;
  using Peer = std::string;
  static constexpr std::string_view kName = "tcp";
  static constexpr ErrorDialect kDialect = ErrorDialect::cloudflare;

  static Peer identify(Protocol::socket& socket);
  static std::string log_fields(const Peer& remote) { return "remote=" + remote; }
  std::optional<ConnectionRefusal> admit(const Peer& remote);
  void release(const Peer&) { --open; }

  std::size_t max_connections = 0;
  std::size_t open = 0;
};

class TcpListener {
 public:
  using Server = HttpServer<TcpTransport>;
  using Handler = Server::Handler;
  using Screen = Server::Screen;

  // Binds at once (so a taken port fails the start with a clear error); accepts after start().
  TcpListener(boost::asio::io_context& io, Screen screen, Handler handler,
              const TcpListenerOptions& options);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  void start() { server_.start(); }
  // Bodies over `bytes` get 413 from the next request on (intake.max_body_bytes, on reload).
  void set_body_limit(std::size_t bytes);
  // Told each refusal the listener answers itself (for purgeq_intents_rejected_total).
  void on_refusal(Server::RefusalCount count) { server_.on_refusal(std::move(count)); }
  // Stops accepting and closes idle connections; requests being handled finish.
  void stop() { server_.stop(); }
  // After stop(): `done` (posted) once every session has ended, or at `deadline`, when the rest
  // are cut.
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
    server_.drain(deadline, std::move(done));
  }

  [[nodiscard]] unsigned short port();
  [[nodiscard]] std::size_t connections() const { return server_.connections(); }

 private:
  Server server_;
};

}  // namespace purgeq
