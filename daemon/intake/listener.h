// The Unix socket: creates it safely (or adopts systemd's), accepts connections and runs one
// HTTP/1.1 session coroutine per connection with read/write deadlines, a body size bound and
// connection limits (overall and per peer uid, in the style of dbus-daemon's).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "intake/api.h"
#include "model/peer.h"

namespace purgeq {

struct ListenerLimits {
  std::size_t body_limit = std::size_t{8} * 1024 * 1024;  // bigger bodies get 413
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

// Counts open connections overall and per uid and decides whether one more may open. A single
// uid never holds more than max_connections less a reserve (max_connections / 16, at least 1),
// so one user at its cap cannot take the last slots from everyone else, however the two limits
// are configured.
class ConnectionCounter {
 public:
  struct Refusal {
    std::string limit;  // the config key: "intake.max_connections" or "...max_connections_per_uid"
    std::string message;  // for the client: what is held, which limit, what to do
  };

  ConnectionCounter(std::size_t max_connections, std::size_t max_connections_per_uid);
  void set_limits(std::size_t max_connections, std::size_t max_connections_per_uid);

  // Counts the connection and returns nullopt, or says why it may not open (nothing counted).
  std::optional<Refusal> admit(long uid);
  void release(long uid);

  [[nodiscard]] std::size_t total() const { return total_; }
  [[nodiscard]] std::size_t of(long uid) const;
  // What one uid may hold: max_connections_per_uid, lowered to leave the reserve if need be.
  [[nodiscard]] std::size_t per_uid_limit() const;
  [[nodiscard]] std::size_t reserve() const;

 private:
  std::size_t max_connections_;
  std::size_t max_per_uid_;
  std::size_t total_ = 0;
  std::map<long, std::size_t> per_uid_;
};

class Listener {
 public:
  // Answers one request; the listener owns the connection around it.
  using Handler = std::function<boost::asio::awaitable<HttpResponseMessage>(
      const HttpRequestMessage&, const Peer&)>;

  // activated_fd: a listening socket passed by systemd; never unlinked or shut down by us.
  Listener(boost::asio::io_context& io, Handler handler, const Config::Listen& listen,
           std::optional<int> activated_fd, ListenerLimits limits = {});
  // Cancels whatever sessions are left. Their coroutines may outlive the Listener (until the
  // io_context runs or destroys them) and touch only state they share with it.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();
  // New limits for connections from now on (reload); connections already open stay.
  void set_limits(const ListenerLimits& limits);
  // Stops accepting and closes idle connections; requests being handled finish, are answered
  // with `Connection: close`, and their connections end.
  void stop();
  // After stop(): calls `done` (posted) once every session has ended, or at `deadline`, when
  // every session left is cancelled (its socket shut down, its handler cancelled).
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done);

  [[nodiscard]] std::size_t connections() const;
  [[nodiscard]] std::size_t connections_of(long uid) const;
  [[nodiscard]] bool activated() const { return activated_; }

  struct State;    // shared by the listener and its coroutines
  struct Session;  // one connection

 private:
  std::shared_ptr<State> state_;
  std::string path_;
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
