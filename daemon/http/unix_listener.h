// The Unix socket: creates it safely (or adopts systemd's) and serves it with the HTTP server
// (http/http_server.h), peers known by SO_PEERCRED and admitted by the connection counter.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/connection_counter.h"
#include "http/http_server.h"
#include "model/peer.h"

namespace purgeq {

struct ListenerLimits {
  std::size_t body_limit = std::size_t{8} * 1024 * 1024;  // intake.max_body_bytes; more gets 413
  // Per read (including a keep-alive connection's idle time before its next request) and per
  // write: a connection that sends nothing for this long is closed.
  std::chrono::milliseconds io_deadline{30'000};
  std::size_t max_connections = 1024;         // all clients together (intake.max_connections)
  std::size_t max_connections_per_uid = 128;  // one peer uid (intake.max_connections_per_uid)
  // A refused connection gets its 503, then the listener reads and drops what the client sends
  // for up to this long before closing: closing on an unread request can reset the connection
  // before the client has read the answer.
  std::chrono::milliseconds refusal_linger{1000};
};

// The limits the config sets (intake.*), the rest at their defaults.
ListenerLimits listener_limits(const Config::Intake& intake);

// The Unix socket's side of the HTTP server: SO_PEERCRED names the peer, the counter admits it,
// errors are purgeqd's JSON.
struct UnixTransport {
  using Protocol = boost::asio::local::stream_protocol;
  using Peer = purgeq::Peer;
  static constexpr std::string_view kName = "unix";
  static constexpr ErrorDialect kDialect = ErrorDialect::native;

  static Peer identify(Protocol::socket& socket);
  static std::string log_fields(const Peer& peer);
  std::optional<ConnectionRefusal> admit(const Peer& peer) { return counter.admit(peer.uid); }
  void release(const Peer& peer) { counter.release(peer.uid); }

  ConnectionCounter counter;
};

class UnixListener {
 public:
  using Server = HttpServer<UnixTransport>;
  using Handler = Server::Handler;

  // activated_fd: a listening socket passed by systemd; never unlinked or shut down by us.
  UnixListener(boost::asio::io_context& io, Handler handler, const Config::Listen& listen,
               std::optional<int> activated_fd, ListenerLimits limits = {});
  // Cancels whatever sessions are left (HttpServer's destructor).
  ~UnixListener();
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  void start() { server_.start(); }
  // New limits for connections and requests from now on (reload); connections already open stay.
  void set_limits(const ListenerLimits& limits);
  // Told each refusal the listener answers itself (for purgeq_intents_rejected_total).
  void on_refusal(Server::RefusalCount count) { server_.on_refusal(std::move(count)); }
  // Stops accepting, removes the socket file (unless activated) and closes idle connections;
  // requests being handled finish, are answered with `Connection: close`, and their connections
  // end.
  void stop();
  // After stop(): calls `done` (posted) once every session has ended, or at `deadline`, when
  // every session left is cancelled.
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
    server_.drain(deadline, std::move(done));
  }

  [[nodiscard]] std::size_t connections() const { return server_.connections(); }
  [[nodiscard]] std::size_t connections_of(long uid);
  [[nodiscard]] bool activated() const { return activated_; }

 private:
  Server server_;
  std::string path_;
  std::size_t max_connections_;  // the descriptor limit was raised for this many
  bool activated_ = false;
};

// The soft RLIMIT_NOFILE is often 1024 (systemd's default), below what `max_connections` open
// connections need: raises it towards the hard limit, as systemd asks of services that need more,
// and logs when it cannot.
void ensure_descriptor_limit(std::size_t max_connections);

// Removes a stale socket file left by a dead daemon; refuses to touch a live one or a non-socket.
// Throws std::runtime_error naming the path and the reason.
void prepare_socket_path(const std::string& path);

}  // namespace purgeq
