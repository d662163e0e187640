// Socket setup and per-connection HTTP sessions.
#include "intake/listener.h"

#include <fmt/format.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "service/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
using asio::as_tuple;
using asio::use_awaitable;

std::string errno_text(int error) {
  return std::strerror(error);
}

Peer peer_of(local::socket& socket) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  Peer peer;
  if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.uid = static_cast<long>(cred.uid);
    peer.gid = static_cast<long>(cred.gid);
    peer.pid = static_cast<long>(cred.pid);
  }
  return peer;
}

HttpResponseMessage plain_error(http::status status, std::string_view code,
                                std::string_view message) {
  HttpResponseMessage response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() =
      fmt::format(R"({{"error":{{"code":"{}","message":"{}"}}}})", code, message) + "\n";
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

}  // namespace

void prepare_socket_path(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw std::runtime_error(
        fmt::format("listen.socket: path \"{}\" is longer than the {} bytes a "
                    "Unix socket address allows",
                    path, sizeof(sockaddr_un{}.sun_path) - 1));
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error(fmt::format("listen.socket: cannot create directory \"{}\": {}",
                                           parent.string(), ec.message()));
    }
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error(
        fmt::format("listen.socket: cannot stat \"{}\": {}", path, errno_text(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(fmt::format(
        "listen.socket: \"{}\" exists and is not a socket; refusing to replace it", path));
  }
  // A socket file: live if something accepts on it.
  asio::io_context probe_io;
  local::socket probe(probe_io);
  boost::system::error_code ec;
  probe.connect(local::endpoint(path), ec);
  if (!ec) {
    throw std::runtime_error(fmt::format(
        "listen.socket: another process is listening on \"{}\" (is purgeqd already running?)",
        path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw std::runtime_error(fmt::format("listen.socket: cannot remove stale socket \"{}\": {}",
                                         path, errno_text(errno)));
  }
  log::notice("stale_socket_removed", "path={}", log::quote(path));
}

Listener::Listener(asio::io_context& io, Api& api, const Config::Listen& listen,
                   std::optional<int> activated_fd, ListenerLimits limits)
    : io_(io), api_(api), limits_(limits), acceptor_(io), path_(listen.socket) {
  if (activated_fd) {
    acceptor_.assign(local(), *activated_fd);
    activated_ = true;
    log::info("listening", "socket=activated fd={}", *activated_fd);
    return;
  }
  prepare_socket_path(path_);
  gid_t gid = static_cast<gid_t>(-1);
  if (!listen.group.empty()) {
    group gr{};
    group* found = nullptr;
    std::vector<char> buffer(16384);
    if (getgrnam_r(listen.group.c_str(), &gr, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      throw std::runtime_error(fmt::format("listen.group: unknown group \"{}\"", listen.group));
    }
    gid = gr.gr_gid;
  }
  acceptor_.open(local());
  // Bind under a umask that leaves the socket private, then widen it: no window where a wider
  // audience than configured could connect.
  const mode_t old_mask = umask(0177);
  boost::system::error_code ec;
  acceptor_.bind(local::endpoint(path_), ec);
  umask(old_mask);
  if (ec) {
    throw std::runtime_error(
        fmt::format("listen.socket: cannot bind \"{}\": {}", path_, ec.message()));
  }
  if (gid != static_cast<gid_t>(-1) && chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    throw std::runtime_error(fmt::format("listen.group: cannot give \"{}\" to group \"{}\": {}",
                                         path_, listen.group, errno_text(errno)));
  }
  if (chmod(path_.c_str(), static_cast<mode_t>(listen.mode)) != 0) {
    throw std::runtime_error(fmt::format("listen.mode: cannot chmod \"{}\" to {:04o}: {}", path_,
                                         listen.mode, errno_text(errno)));
  }
  acceptor_.listen(asio::socket_base::max_listen_connections);
  log::info("listening", "socket={} mode={:04o} group={}", log::quote(path_), listen.mode,
            log::quote(listen.group));
}

Listener::~Listener() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (!activated_) unlink(path_.c_str());
}

void Listener::start() {
  asio::co_spawn(io_, accept_loop(), [](const std::exception_ptr& error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error("accept_failed", "error={}", log::quote(e.what()));
    }
  });
}

void Listener::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.cancel(ec);
  acceptor_.close(ec);
  if (!activated_) unlink(path_.c_str());
  for (auto* socket : sessions_) socket->cancel(ec);
}

asio::awaitable<void> Listener::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || stopping_) co_return;
    if (ec) {
      // EMFILE and friends: back off a little instead of spinning.
      log::warning("accept_error", "error={}", log::quote(ec.message()));
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (sessions_.size() >= limits_.max_connections) {
      log::warning("connection_refused", "reason=too_many_connections limit={}",
                   limits_.max_connections);
      continue;  // the socket closes as it goes out of scope
    }
    asio::co_spawn(io_, session(std::move(socket)), [](const std::exception_ptr& error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log::error("session_failed", "error={}", log::quote(e.what()));
      }
    });
  }
}

asio::awaitable<void> Listener::session(local::socket accepted) {
  // Shared so a deadline handler that fired just as the session ended can see it is gone.
  auto socket = std::make_shared<local::socket>(std::move(accepted));
  sessions_.insert(socket.get());
  struct Unregister {
    std::set<local::socket*>& set;
    local::socket* socket;
    ~Unregister() { set.erase(socket); }
  } unregister{sessions_, socket.get()};

  const Peer peer = peer_of(*socket);
  boost::beast::flat_buffer buffer;
  asio::steady_timer deadline(io_);
  auto generation = std::make_shared<std::uint64_t>(0);
  // One timer guards each read and write: when it fires, the socket's operations are cancelled.
  auto guard = [&](bool on) {
    ++*generation;
    deadline.cancel();
    if (!on) return;
    deadline.expires_after(limits_.io_deadline);
    deadline.async_wait([weak = std::weak_ptr<local::socket>(socket), generation,
                         armed = *generation](boost::system::error_code ec) {
      auto live = weak.lock();
      if (ec || !live || *generation != armed) return;
      live->cancel(ec);
    });
  };
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(limits_.body_limit);
    parser.header_limit(64 * 1024);
    guard(true);
    auto [read_ec, read_n] =
        co_await http::async_read(*socket, buffer, parser, as_tuple(use_awaitable));
    guard(false);
    if (read_ec == http::error::body_limit) {
      auto response = plain_error(http::status::payload_too_large, "body_too_large",
                                  fmt::format("request body exceeds {} bytes", limits_.body_limit));
      guard(true);
      co_await http::async_write(*socket, response, as_tuple(use_awaitable));
      guard(false);
      break;
    }
    if (read_ec) {
      if (read_ec != http::error::end_of_stream && read_ec != asio::error::operation_aborted &&
          read_ec != asio::error::eof && read_ec != asio::error::connection_reset &&
          parser.got_some()) {
        auto response =
            plain_error(http::status::bad_request, "bad_request", "malformed HTTP request");
        guard(true);
        co_await http::async_write(*socket, response, as_tuple(use_awaitable));
        guard(false);
      }
      break;
    }
    const auto request = parser.release();
    auto response = co_await api_.handle(request, peer);
    if (stopping_) response.keep_alive(false);
    guard(true);
    auto [write_ec, write_n] =
        co_await http::async_write(*socket, response, as_tuple(use_awaitable));
    guard(false);
    if (write_ec || !response.keep_alive()) break;
  }
  boost::system::error_code ec;
  socket->shutdown(local::socket::shutdown_both, ec);
  socket->close(ec);
}

}  // namespace purgeq
