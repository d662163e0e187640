// Socket setup, connection limits and per-connection HTTP sessions.
#include "intake/listener.h"

#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <vector>

#include "intake/session_set.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;
using asio::as_tuple;
using asio::use_awaitable;

// Refused connections lingering at once (each holds a descriptor for up to refusal_linger);
// beyond this, a refused connection gets its answer and is closed at once.
constexpr std::size_t kMaxLingering = 64;
// What a lingering refused connection reads before giving up on the client.
constexpr std::size_t kLingerBytes = std::size_t{64} * 1024;
// At most one connection_refused log line per this interval (a flood would flood the journal).
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);
constexpr auto kRetryAfterSeconds = 5;
// How often a handled request's connection is polled when its socket cannot simply be watched
// (the client sent more bytes, or half-closed: it may still read the answer).
constexpr auto kPeerPollInterval = std::chrono::seconds(1);
// Descriptors beyond the connections: the store, curl, refused connections, systemd.
constexpr rlim_t kSpareDescriptors = 256 + kMaxLingering;

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

std::string error_body(std::string_view code, std::string_view message) {
  return boost::json::serialize(boost::json::object{
             {"error", boost::json::object{{"code", code}, {"message", message}}}}) +
         "\n";
}

HttpResponseMessage plain_error(http::status status, std::string_view code,
                                std::string_view message) {
  HttpResponseMessage response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = error_body(code, message);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

// The whole answer to a refused connection, sent before its request is read.
std::string refusal_answer(std::string_view message) {
  const std::string body = error_body("too_many_connections", message);
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nServer: purgeqd/" PURGEQ_VERSION
      "\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: {}\r\n"
      "Connection: close\r\n\r\n{}",
      body.size(), kRetryAfterSeconds, body);
}

}  // namespace

void ensure_descriptor_limit(std::size_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (limit.rlim_cur > before && setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      log::info("descriptor_limit_raised", "from={} to={}", before, limit.rlim_cur);
    } else {
      limit.rlim_cur = before;
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    log::warning("descriptor_limit_low", "limit={} max_connections={} note={}", limit.rlim_cur,
                 max_connections,
                 log::quote("connections beyond the descriptor limit wait in the backlog; raise "
                            "LimitNOFILE= or lower intake.max_connections"));
  }
}

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

ListenerLimits listener_limits(const Config::Intake& intake) {
  ListenerLimits limits;
  limits.max_connections = static_cast<std::size_t>(std::max(1LL, intake.max_connections));
  limits.max_connections_per_uid =
      static_cast<std::size_t>(std::max(1LL, intake.max_connections_per_uid));
  return limits;
}

// ---- ConnectionCounter ----

ConnectionCounter::ConnectionCounter(std::size_t max_connections,
                                     std::size_t max_connections_per_uid)
    : max_connections_(std::max<std::size_t>(1, max_connections)),
      max_per_uid_(std::max<std::size_t>(1, max_connections_per_uid)) {}

void ConnectionCounter::set_limits(std::size_t max_connections,
                                   std::size_t max_connections_per_uid) {
  max_connections_ = std::max<std::size_t>(1, max_connections);
  max_per_uid_ = std::max<std::size_t>(1, max_connections_per_uid);
}

std::size_t ConnectionCounter::reserve() const {
  return std::max<std::size_t>(1, max_connections_ / 16);
}

std::size_t ConnectionCounter::per_uid_limit() const {
  const std::size_t room = max_connections_ > reserve() ? max_connections_ - reserve() : 1;
  return std::min(max_per_uid_, room);
}

std::size_t ConnectionCounter::of(long uid) const {
  const auto it = per_uid_.find(uid);
  return it == per_uid_.end() ? 0 : it->second;
}

std::optional<ConnectionCounter::Refusal> ConnectionCounter::admit(long uid) {
  if (total_ >= max_connections_) {
    return Refusal{"intake.max_connections",
                   fmt::format("purgeqd has {} open connections and intake.max_connections is "
                               "{}; try again later",
                               total_, max_connections_)};
  }
  const std::size_t held = of(uid);
  const std::size_t limit = per_uid_limit();
  if (held >= limit) {
    std::string message =
        limit == max_per_uid_
            ? fmt::format(
                  "uid {} has {} open connections and intake.max_connections_per_uid is "
                  "{}; close idle connections or try again later",
                  uid, held, max_per_uid_)
            : fmt::format(
                  "uid {} has {} open connections, the most one uid may hold: "
                  "intake.max_connections_per_uid is {}, but intake.max_connections is "
                  "{} and {} are kept for other uids; close idle connections or try "
                  "again later",
                  uid, held, max_per_uid_, max_connections_, reserve());
    return Refusal{"intake.max_connections_per_uid", std::move(message)};
  }
  ++total_;
  ++per_uid_[uid];
  return std::nullopt;
}

void ConnectionCounter::release(long uid) {
  const auto it = per_uid_.find(uid);
  if (it == per_uid_.end()) return;
  if (--it->second == 0) per_uid_.erase(it);
  if (total_ > 0) --total_;
}

// ---- shared state ----

struct Listener::Session {
  Session(local::socket accepted, Peer who) : socket(std::move(accepted)), peer(who) {}
  enum class Phase { reading, handling, writing };

  local::socket socket;
  Peer peer;
  // Bound to the session coroutine: emitting cancels what it awaits (a socket operation, a
  // long-poll's wait) and makes its next co_await throw operation_aborted.
  asio::cancellation_signal cancel;
  Phase phase = Phase::reading;
  std::uint64_t watch = 0;  // generation of the peer watch while a request is handled
  std::optional<asio::steady_timer> watch_timer;  // polls the peer when it cannot be watched
};

struct Listener::State {
  State(asio::io_context& io, Handler h, const ListenerLimits& l)
      : acceptor(io),
        handler(std::move(h)),
        limits(l),
        counter(l.max_connections, l.max_connections_per_uid),
        sessions(io.get_executor()) {}

  local::acceptor acceptor;
  Handler handler;
  ListenerLimits limits;
  ConnectionCounter counter;
  SessionSet<Session> sessions;
  std::size_t lingering = 0;
  bool stopping = false;
  Clock::time_point last_refusal_log{};
  std::size_t refusals_unlogged = 0;

  void add(Session* session) { sessions.add(session); }

  void remove(Session* session) {
    if (sessions.remove(session)) counter.release(session->peer.uid);
  }

  void log_refusal(const Peer& peer, const ConnectionCounter::Refusal& refusal) {
    ++refusals_unlogged;
    const auto now = Clock::now();
    if (last_refusal_log != Clock::time_point{} && now - last_refusal_log < kRefusalLogInterval) {
      return;
    }
    log::warning("connection_refused", "limit={} uid={} pid={} connections={} of_uid={} refused={}",
                 refusal.limit, peer.uid, peer.pid, counter.total(), counter.of(peer.uid),
                 refusals_unlogged);
    last_refusal_log = now;
    refusals_unlogged = 0;
  }

  // Ends every session at once: shuts its socket down and cancels what it awaits.
  void cancel_sessions() {
    for (auto* session : sessions.all()) {
      boost::system::error_code ec;
      session->cancel.emit(asio::cancellation_type::terminal);
      session->socket.shutdown(local::socket::shutdown_both, ec);
      session->socket.cancel(ec);
    }
  }
};

namespace {

using State = Listener::State;
using Session = Listener::Session;

// While a request is handled nobody reads the socket, so a client that gives up (closes, or is
// killed) would hold its connection until the handler ends: an hour for a long-poll. Watch the
// socket and cancel the session when the client has closed its end. A client that only
// half-closed (shutdown(SHUT_WR)) or sent more (a pipelined request) may still read the answer:
// it is polled every second until it closes or the answer is written.
enum class PeerState { waiting, gone, unsure };

PeerState probe_peer(local::socket& socket) {
  pollfd pfd{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  if (::poll(&pfd, 1, 0) <= 0) return PeerState::waiting;
  // POLLHUP: both directions are shut, which on a Unix socket means the peer closed its end.
  if ((pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) return PeerState::gone;
  return (pfd.revents & (POLLIN | POLLRDHUP)) != 0 ? PeerState::unsure : PeerState::waiting;
}

void client_gone(Session& session) {
  log::debug("client_gone", "uid={} pid={}", session.peer.uid, session.peer.pid);
  session.cancel.emit(asio::cancellation_type::terminal);
}

void poll_peer_later(const std::shared_ptr<Session>& session, std::uint64_t generation) {
  if (!session->watch_timer) session->watch_timer.emplace(session->socket.get_executor());
  session->watch_timer->expires_after(kPeerPollInterval);
  session->watch_timer->async_wait(
      [weak = std::weak_ptr<Session>(session), generation](boost::system::error_code ec) {
        const auto live = weak.lock();
        if (ec || !live || live->watch != generation) return;
        if (probe_peer(live->socket) == PeerState::gone) {
          client_gone(*live);
        } else {
          poll_peer_later(live, generation);
        }
      });
}

void watch_peer(const std::shared_ptr<Session>& session, std::uint64_t generation) {
  session->socket.async_wait(local::socket::wait_read, [weak = std::weak_ptr<Session>(session),
                                                        generation](boost::system::error_code ec) {
    const auto live = weak.lock();
    if (ec || !live || live->watch != generation) return;
    switch (probe_peer(live->socket)) {
      case PeerState::waiting:
        watch_peer(live, generation);  // a spurious wake-up
        return;
      case PeerState::gone:
        client_gone(*live);
        return;
      case PeerState::unsure:
        poll_peer_later(live, generation);
        return;
    }
  });
}

void start_watch(const std::shared_ptr<Session>& session) {
  watch_peer(session, ++session->watch);
}

void end_watch(Session& session) {
  ++session.watch;
  boost::system::error_code ec;
  session.socket.cancel(ec);
  if (session.watch_timer) session.watch_timer->cancel();
}

asio::awaitable<void> session_loop(std::shared_ptr<State> state, std::shared_ptr<Session> self) {
  const SessionGuard<State, Session> slot{state, self.get()};

  auto& socket = self->socket;
  boost::beast::flat_buffer buffer;
  asio::steady_timer deadline(socket.get_executor());
  auto generation = std::make_shared<std::uint64_t>(0);
  // One timer guards each read and write: when it fires, the socket's operations are cancelled.
  auto guard = [&](bool on) {
    ++*generation;
    deadline.cancel();
    if (!on) return;
    deadline.expires_after(state->limits.io_deadline);
    deadline.async_wait([weak = std::weak_ptr<Session>(self), generation,
                         armed = *generation](boost::system::error_code ec) {
      auto live = weak.lock();
      if (ec || !live || *generation != armed) return;
      live->socket.cancel(ec);
    });
  };
  try {
    while (!state->stopping) {
      self->phase = Session::Phase::reading;
      http::request_parser<http::string_body> parser;
      parser.body_limit(state->limits.body_limit);
      parser.header_limit(64 * 1024);
      guard(true);
      auto [read_ec, read_n] =
          co_await http::async_read(socket, buffer, parser, as_tuple(use_awaitable));
      guard(false);
      self->phase = Session::Phase::writing;
      if (read_ec == http::error::body_limit) {
        auto response =
            plain_error(http::status::payload_too_large, "body_too_large",
                        fmt::format("request body exceeds {} bytes", state->limits.body_limit));
        guard(true);
        co_await http::async_write(socket, response, as_tuple(use_awaitable));
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
          co_await http::async_write(socket, response, as_tuple(use_awaitable));
          guard(false);
        }
        break;
      }
      const auto request = parser.release();
      self->phase = Session::Phase::handling;
      start_watch(self);
      auto response = co_await state->handler(request, self->peer);
      end_watch(*self);
      self->phase = Session::Phase::writing;
      if (state->stopping) response.keep_alive(false);
      guard(true);
      auto [write_ec, write_n] =
          co_await http::async_write(socket, response, as_tuple(use_awaitable));
      guard(false);
      if (write_ec || !response.keep_alive()) break;
    }
  } catch (const boost::system::system_error& e) {
    // Cancelled: the client went away during its request, or a stop ran out of time.
    if (e.code() != asio::error::operation_aborted) throw;
  }
  guard(false);
  boost::system::error_code ec;
  socket.shutdown(local::socket::shutdown_both, ec);
  socket.close(ec);
}

// A refused connection: reads and drops what the client sends (its request) until it closes or
// the linger time is up, so that closing does not reset the connection before the client has
// read its 503.
asio::awaitable<void> linger(std::shared_ptr<State> state, std::shared_ptr<local::socket> socket) {
  ++state->lingering;
  struct Done {
    std::shared_ptr<State> state;
    ~Done() { --state->lingering; }
  } done{state};
  asio::steady_timer timer(socket->get_executor(), state->limits.refusal_linger);
  timer.async_wait([weak = std::weak_ptr<local::socket>(socket)](boost::system::error_code ec) {
    auto live = weak.lock();
    if (!ec && live) live->cancel(ec);
  });
  std::array<char, 4096> sink{};
  std::size_t total = 0;
  while (total < kLingerBytes) {
    auto [ec, n] = co_await socket->async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
    if (ec) break;
    total += n;
  }
  timer.cancel();
  boost::system::error_code ec;
  socket->close(ec);
}

void refuse(const std::shared_ptr<State>& state, local::socket socket, const Peer& peer,
            const ConnectionCounter::Refusal& refusal) {
  state->log_refusal(peer, refusal);
  // A fresh connection's send buffer is empty: the short answer fits without blocking.
  const std::string answer = refusal_answer(refusal.message);
  [[maybe_unused]] const auto sent =
      ::send(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  socket.shutdown(local::socket::shutdown_send, ec);
  if (state->stopping || state->lingering >= kMaxLingering) {
    socket.close(ec);
    return;
  }
  const auto executor = socket.get_executor();
  asio::co_spawn(executor, linger(state, std::make_shared<local::socket>(std::move(socket))),
                 asio::detached);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  while (!state->stopping) {
    auto [ec, socket] = co_await state->acceptor.async_accept(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || state->stopping) co_return;
    if (ec) {
      // EMFILE and friends: back off a little instead of spinning.
      log::warning("accept_error", "error={}", log::quote(ec.message()));
      asio::steady_timer pause(state->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    const Peer peer = peer_of(socket);
    if (auto refusal = state->counter.admit(peer.uid)) {
      refuse(state, std::move(socket), peer, *refusal);
      continue;
    }
    auto session = std::make_shared<Session>(std::move(socket), peer);
    state->add(session.get());
    // The completion handler keeps the session (and its cancellation signal) alive until the
    // coroutine has completed.
    asio::co_spawn(state->acceptor.get_executor(), session_loop(state, session),
                   asio::bind_cancellation_slot(
                       session->cancel.slot(),
                       [session, log = log_coroutine_failure("session_failed", "unix")](
                           const std::exception_ptr& error) { log(error); }));
  }
}

}  // namespace

Listener::Listener(asio::io_context& io, Handler handler, const Config::Listen& listen,
                   std::optional<int> activated_fd, ListenerLimits limits)
    : state_(std::make_shared<State>(io, std::move(handler), limits)), path_(listen.socket) {
  ensure_descriptor_limit(limits.max_connections);
  auto& acceptor = state_->acceptor;
  if (activated_fd) {
    acceptor.assign(local(), *activated_fd);
    activated_ = true;
    log::info("listening", "socket=activated fd={} max_connections={} max_connections_per_uid={}",
              *activated_fd, limits.max_connections, state_->counter.per_uid_limit());
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
  acceptor.open(local());
  // Bind under a umask that leaves the socket private, then widen it: no window where a wider
  // audience than configured could connect.
  const mode_t old_mask = umask(0177);
  boost::system::error_code ec;
  acceptor.bind(local::endpoint(path_), ec);
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
  acceptor.listen(asio::socket_base::max_listen_connections);
  log::info("listening",
            "socket={} mode={:04o} group={} max_connections={} max_connections_per_uid={}",
            log::quote(path_), listen.mode, log::quote(listen.group), limits.max_connections,
            state_->counter.per_uid_limit());
}

Listener::~Listener() {
  state_->stopping = true;
  state_->sessions.forget_drain();
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  if (!activated_) unlink(path_.c_str());
  state_->cancel_sessions();
}

void Listener::start() {
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_),
                 log_coroutine_failure("accept_stopped", "unix"));
}

void Listener::set_limits(const ListenerLimits& limits) {
  if (limits.max_connections > state_->limits.max_connections) {
    ensure_descriptor_limit(limits.max_connections);
  }
  state_->limits = limits;
  state_->counter.set_limits(limits.max_connections, limits.max_connections_per_uid);
}

void Listener::stop() {
  if (state_->stopping) return;
  state_->stopping = true;
  boost::system::error_code ec;
  state_->acceptor.cancel(ec);
  state_->acceptor.close(ec);
  if (!activated_) unlink(path_.c_str());
  // Idle connections (and requests still arriving) end now; the others after their answer.
  for (auto* session : state_->sessions.all()) {
    if (session->phase == Session::Phase::reading) session->socket.cancel(ec);
  }
}

void Listener::drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
  state_->sessions.drain(
      deadline, std::move(done), std::weak_ptr<State>(state_),
      +[](State& state) { state.cancel_sessions(); });
}

std::size_t Listener::connections() const {
  return state_->sessions.size();
}

std::size_t Listener::connections_of(long uid) const {
  return state_->counter.of(uid);
}

}  // namespace purgeq
