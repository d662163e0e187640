// The Unix socket: creates it safely (or adopts systemd's), accepts connections and runs one
// HTTP/1.1 session coroutine per connection with read/write deadlines and a body size bound.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "config/config.h"
#include "intake/api.h"

namespace purgeq {

struct ListenerLimits {
  std::size_t body_limit = 8 * 1024 * 1024;  // bigger bodies get 413
  std::chrono::seconds io_deadline{30};      // per read (incl. keep-alive idle) and per write
  std::size_t max_connections = 1024;        // beyond this, new connections are closed at once
};

class Listener {
 public:
  // activated_fd: a listening socket passed by systemd; never unlinked or shut down by us.
  Listener(boost::asio::io_context& io, Api& api, const Config::Listen& listen,
           std::optional<int> activated_fd, ListenerLimits limits = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();
  // Stops accepting and closes idle connections; requests being handled finish.
  void stop();
  [[nodiscard]] std::size_t connections() const { return sessions_.size(); }
  [[nodiscard]] bool activated() const { return activated_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  Api& api_;
  ListenerLimits limits_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  bool activated_ = false;
  bool stopping_ = false;
  std::set<boost::asio::local::stream_protocol::socket*> sessions_;
};

// Removes a stale socket file left by a dead daemon; refuses to touch a live one or a non-socket.
// Throws std::runtime_error naming the path and the reason.
void prepare_socket_path(const std::string& path);

}  // namespace purgeq
