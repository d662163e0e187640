// HttpServer's definitions. Included only by the .cpp of each listener, which instantiates the
// server for its Transport (`template class HttpServer<UnixTransport>;`), so the session loop is
// compiled once per transport and nowhere else.
#pragma once

#include <fmt/format.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <string_view>
#include <utility>

#include "http/http_server.h"
#include "http/log_throttle.h"
#include "http/session_set.h"
#include "model/text.h"
#include "observe/log.h"

namespace purgeq {
namespace http_server_detail {

// Refused connections lingering at once (each holds a descriptor for up to refusal_linger);
// beyond this, a refused connection gets its answer and is closed at once.
inline constexpr std::size_t kMaxLingering = 64;
// What a lingering connection reads before giving up on the client.
inline constexpr std::size_t kLingerBytes = std::size_t{64} * 1024;
// How often a handled request's connection is polled when its socket cannot simply be watched
// (the client sent more bytes, or half-closed: it may still read the answer).
inline constexpr auto kPeerPollInterval = std::chrono::seconds(1);

// While a request is handled nobody reads the socket, so a client that gives up (closes, or is
// killed) would hold its connection until the handler ends: an hour for a long-poll. The socket
// is watched: gone when the client closed its end; unsure when it half-closed or sent more (a
// pipelined request), since it may still read the answer.
enum class PeerState { waiting, gone, unsure };
PeerState probe_peer(int fd);

// The client went away, or a deadline or a stop ended the read: nothing to answer.
bool client_left(const boost::system::error_code& ec);

// Feeds the parser what `buffer` already holds after the header (consuming it), as Beast's read
// does before reading more; need_more is not an error.
boost::system::error_code parse_buffered(
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    boost::beast::flat_buffer& buffer);

// The answer as bytes, for a refused connection's one non-blocking send.
std::string serialize(const HttpResponseMessage& response);

}  // namespace http_server_detail

template <class Transport>
struct HttpServer<Transport>::State {
  using Protocol = typename Transport::Protocol;
  using Socket = typename Protocol::socket;

  struct Session {
    Session(Socket accepted, Peer who)
        : socket(std::move(accepted)), peer(std::move(who)), deadline(socket.get_executor()) {}
    enum class Phase { reading, handling, writing };

    Socket socket;
    Peer peer;
    // Bound to the session coroutine: emitting cancels what it awaits (a socket operation, a
    // handler's wait) and makes its next co_await throw operation_aborted.
    boost::asio::cancellation_signal cancel;
    Phase phase = Phase::reading;
    // One timer guards each read and write: when it fires, the socket's operations are
    // cancelled. (beast::basic_stream does the same per read_some and write_some, and its writes
    // cost a GET /v1/status 13 % more instructions.)
    boost::asio::steady_timer deadline;
    std::uint64_t deadline_generation = 0;
    std::uint64_t watch = 0;  // generation of the peer watch while a request is handled
    std::optional<boost::asio::steady_timer> watch_timer;  // polls a peer that cannot be watched
  };

  // The socket operations started from now until disarm() are cancelled at `after`.
  static void arm(const std::shared_ptr<Session>& session, std::chrono::milliseconds after) {
    const auto armed = ++session->deadline_generation;
    session->deadline.expires_after(after);
    session->deadline.async_wait(
        [weak = std::weak_ptr<Session>(session), armed](boost::system::error_code ec) {
          const auto live = weak.lock();
          if (ec || !live || live->deadline_generation != armed) return;
          live->socket.cancel(ec);
        });
  }
  static void disarm(Session& session) {
    ++session.deadline_generation;
    session.deadline.cancel();
  }

  State(boost::asio::io_context& io, Transport t, Handler h, Screen s, const SessionLimits& l)
      : acceptor(io),
        transport(std::move(t)),
        handler(std::move(h)),
        screen(std::move(s)),
        limits(l),
        sessions(io.get_executor()) {}

  Acceptor acceptor;
  Transport transport;
  Handler handler;
  Screen screen;
  SessionLimits limits;
  SessionSet<Session> sessions;
  RefusalCount count;
  std::size_t lingering = 0;
  bool stopping = false;
  LogThrottle refusal_log;  // connection_refused lines
  LogThrottle accept_log;   // accept_failed lines

  void remove(Session* session) {
    if (sessions.remove(session)) transport.release(session->peer);
  }

  // Ends every session at once: shuts its socket down and cancels what it awaits.
  void cancel_sessions() {
    for (auto* session : sessions.all()) {
      boost::system::error_code ec;
      session->cancel.emit(boost::asio::cancellation_type::terminal);
      session->socket.shutdown(Protocol::socket::shutdown_both, ec);
      session->socket.cancel(ec);
    }
  }

  void counted(ErrorCode code) {
    if (count) count(code);
  }

  // A request the session answers itself: logged like a refused intent and counted.
  HttpResponseMessage refuse_request(const Session& session, std::string_view target,
                                     ErrorCode code, std::string_view message) {
    log::info("intent_rejected", "code={} listener={} {} target={} message={}", error_name(code),
              Transport::kName, Transport::log_fields(session.peer),
              log::quote(utf8_prefix(target, kMaxQuotedBytes)), log::quote(message));
    counted(code);
    return error_response(Transport::kDialect, ErrorAnswer{code, message});
  }

  HttpResponseMessage body_too_large(const Session& session, std::string_view target) {
    return refuse_request(
        session, target, ErrorCode::body_too_large,
        fmt::format("request body exceeds {} ({} bytes); split the items into several requests",
                    kBodyLimitKey, limits.body_limit));
  }

  // ---- the peer watch ----

  static void client_gone(Session& session) {
    log::debug("client_gone", "listener={} {}", Transport::kName,
               Transport::log_fields(session.peer));
    session.cancel.emit(boost::asio::cancellation_type::terminal);
  }

  static void poll_peer_later(const std::shared_ptr<Session>& session, std::uint64_t generation) {
    if (!session->watch_timer) session->watch_timer.emplace(session->socket.get_executor());
    session->watch_timer->expires_after(http_server_detail::kPeerPollInterval);
    session->watch_timer->async_wait(
        [weak = std::weak_ptr<Session>(session), generation](boost::system::error_code ec) {
          const auto live = weak.lock();
          if (ec || !live || live->watch != generation) return;
          if (http_server_detail::probe_peer(live->socket.native_handle()) ==
              http_server_detail::PeerState::gone) {
            client_gone(*live);
          } else {
            poll_peer_later(live, generation);
          }
        });
  }

  static void watch_peer(const std::shared_ptr<Session>& session, std::uint64_t generation) {
    session->socket.async_wait(
        Protocol::socket::wait_read,
        [weak = std::weak_ptr<Session>(session), generation](boost::system::error_code ec) {
          const auto live = weak.lock();
          if (ec || !live || live->watch != generation) return;
          switch (http_server_detail::probe_peer(live->socket.native_handle())) {
            case http_server_detail::PeerState::waiting:
              watch_peer(live, generation);  // a spurious wake-up
              return;
            case http_server_detail::PeerState::gone:
              client_gone(*live);
              return;
            case http_server_detail::PeerState::unsure:
              poll_peer_later(live, generation);
              return;
          }
        });
  }

  static void end_watch(Session& session) {
    ++session.watch;
    boost::system::error_code ec;
    session.socket.cancel(ec);
    if (session.watch_timer) session.watch_timer->cancel();
  }

  // ---- sessions ----

  // After a refusal: stop sending, then read and drop what the client still sends until it closes
  // or `linger` passes, so that the close does not reset the connection before the answer is read.
  static boost::asio::awaitable<void> linger_close(const std::shared_ptr<Session>& session,
                                                   std::chrono::milliseconds linger) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    boost::system::error_code ec;
    session->socket.shutdown(Protocol::socket::shutdown_send, ec);
    std::array<char, 4096> sink{};
    std::size_t dropped = 0;
    arm(session, linger);
    while (dropped < http_server_detail::kLingerBytes) {
      auto [read_ec, n] = co_await session->socket.async_read_some(boost::asio::buffer(sink),
                                                                   as_tuple(use_awaitable));
      if (read_ec) break;
      dropped += n;
    }
    disarm(*session);
  }

  static boost::asio::awaitable<void> serve(std::shared_ptr<State> state,
                                            std::shared_ptr<Session> self) {
    namespace http = boost::beast::http;
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    using Phase = typename Session::Phase;
    const SessionGuard<State, Session> slot{state, self.get()};
    auto& socket = self->socket;
    boost::beast::flat_buffer buffer;
    try {
      while (!state->stopping) {
        self->phase = Phase::reading;
        http::request_parser<http::string_body> parser;
        limit_request(parser, state->limits.body_limit);
        arm(self, state->limits.header_deadline);
        auto [header_ec, header_n] =
            co_await http::async_read_header(socket, buffer, parser, as_tuple(use_awaitable));
        disarm(*self);
        // The header is whole when the error is only that its Content-Length is over the bound.
        const bool have_header = !header_ec || header_ec == http::error::body_limit;
        const std::string_view target = parser.get().target();
        std::optional<HttpResponseMessage> response;
        // Answered without reading the whole request: linger so the client reads the answer.
        bool refused = true;
        self->phase = Phase::writing;
        if (!have_header) {
          if (!parser.got_some() || http_server_detail::client_left(header_ec)) break;
          response = state->refuse_request(*self, target, ErrorCode::bad_request,
                                           "malformed HTTP request");
        } else if (auto screened =
                       state->screen ? state->screen(parser.get(), self->peer) : std::nullopt) {
          // Refused on the header alone: its body is never read into memory.
          response = std::move(screened);
          response->keep_alive(false);
        } else if (header_ec) {
          response = state->body_too_large(*self, target);
        } else {
          // What came with the header is parsed at once: a small request that arrived in one
          // piece is whole without another read (Beast would post its completion).
          boost::system::error_code read_ec = http_server_detail::parse_buffered(parser, buffer);
          if (!read_ec && !parser.is_done()) {
            self->phase = Phase::reading;
            if (parser.get()[http::field::expect] == "100-continue") {
              http::response<http::empty_body> go_on{http::status::continue_, 11};
              arm(self, state->limits.io_deadline);
              auto [continue_ec, continue_n] =
                  co_await http::async_write(socket, go_on, as_tuple(use_awaitable));
              disarm(*self);
              if (continue_ec) break;
            }
            arm(self, state->limits.io_deadline);
            auto [body_ec, body_n] =
                co_await http::async_read(socket, buffer, parser, as_tuple(use_awaitable));
            disarm(*self);
            read_ec = body_ec;
          }
          self->phase = Phase::writing;
          if (read_ec == http::error::body_limit) {
            response = state->body_too_large(*self, target);
          } else if (read_ec) {
            if (http_server_detail::client_left(read_ec)) break;
            response = state->refuse_request(*self, target, ErrorCode::bad_request,
                                             "malformed HTTP request");
          } else {
            refused = false;
            const bool head = parser.get().method() == http::verb::head;
            const HttpRequestMessage request = parser.release();
            self->phase = Phase::handling;
            watch_peer(self, ++self->watch);
            response = co_await state->handler(request, self->peer);
            end_watch(*self);
            self->phase = Phase::writing;
            if (state->stopping) response->keep_alive(false);
            if (head) {
              // A HEAD answer has the headers only; a body would be read as the next response.
              const auto length = response->body().size();
              response->body().clear();
              response->content_length(length);
            }
          }
        }
        arm(self, state->limits.io_deadline);
        auto [write_ec, write_n] =
            co_await http::async_write(socket, *response, as_tuple(use_awaitable));
        disarm(*self);
        if (write_ec) break;
        if (refused) {
          co_await linger_close(self, state->limits.refusal_linger);
          break;
        }
        if (!response->keep_alive()) break;
      }
    } catch (const boost::system::system_error& e) {
      // Cancelled: the client went away during its request, or a stop ran out of time.
      if (e.code() != boost::asio::error::operation_aborted) throw;
    }
    disarm(*self);
    end_watch(*self);
    boost::system::error_code ec;
    socket.shutdown(Protocol::socket::shutdown_both, ec);
    socket.close(ec);
  }

  // A refused connection: reads and drops what the client sends (its request) until it closes or
  // the linger time is up.
  static boost::asio::awaitable<void> linger_refused(std::shared_ptr<State> state,
                                                     std::shared_ptr<Session> refused) {
    ++state->lingering;
    struct Done {
      std::shared_ptr<State> state;
      ~Done() { --state->lingering; }
    } done{state};
    co_await linger_close(refused, state->limits.refusal_linger);
    boost::system::error_code ec;
    refused->socket.close(ec);
  }

  static void refuse_connection(const std::shared_ptr<State>& state, Socket socket,
                                const Peer& peer, const ConnectionRefusal& refusal) {
    if (state->refusal_log.due()) {
      log::warning("connection_refused", "listener={} limit={} {} connections={} refused={}",
                   Transport::kName, refusal.limit, Transport::log_fields(peer),
                   state->sessions.size(), state->refusal_log.count());
      state->refusal_log.logged();
    }
    state->counted(ErrorCode::too_many_connections);
    // Answered before the request is read. A fresh connection's send buffer is empty: the short
    // answer fits without blocking.
    const std::string answer = http_server_detail::serialize(error_response(
        Transport::kDialect, ErrorAnswer{ErrorCode::too_many_connections, refusal.message}));
    [[maybe_unused]] const auto sent =
        ::send(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ec;
    if (state->stopping || state->lingering >= http_server_detail::kMaxLingering) {
      socket.close(ec);
      return;
    }
    const auto executor = socket.get_executor();
    boost::asio::co_spawn(executor,
                          linger_refused(state, std::make_shared<Session>(std::move(socket), peer)),
                          log_coroutine_failure("session_failed", Transport::kName));
  }

  static boost::asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    while (!state->stopping) {
      auto [ec, socket] = co_await state->acceptor.async_accept(as_tuple(use_awaitable));
      if (ec == boost::asio::error::operation_aborted || state->stopping) co_return;
      if (ec) {
        // EMFILE and friends: back off a little instead of spinning, and say so at most once
        // per interval.
        if (state->accept_log.due()) {
          log::warning("accept_failed", "listener={} error={} failed={}", Transport::kName,
                       log::quote(ec.message()), state->accept_log.count());
          state->accept_log.logged();
        }
        boost::asio::steady_timer pause(state->acceptor.get_executor(),
                                        std::chrono::milliseconds(100));
        co_await pause.async_wait(as_tuple(use_awaitable));
        continue;
      }
      Peer peer = Transport::identify(socket);
      if (auto refusal = state->transport.admit(peer)) {
        refuse_connection(state, std::move(socket), peer, *refusal);
        continue;
      }
      auto session = std::make_shared<Session>(std::move(socket), std::move(peer));
      state->sessions.add(session.get());
      // The completion handler keeps the session (and its cancellation signal) alive until the
      // coroutine has completed.
      boost::asio::co_spawn(
          state->acceptor.get_executor(), serve(state, session),
          boost::asio::bind_cancellation_slot(
              session->cancel.slot(),
              [session, log = log_coroutine_failure("session_failed", Transport::kName)](
                  const std::exception_ptr& error) { log(error); }));
    }
  }
};

template <class Transport>
HttpServer<Transport>::HttpServer(boost::asio::io_context& io, Transport transport, Handler handler,
                                  Screen screen, const SessionLimits& limits)
    : state_(std::make_shared<State>(io, std::move(transport), std::move(handler),
                                     std::move(screen), limits)) {}

template <class Transport>
HttpServer<Transport>::~HttpServer() {
  state_->stopping = true;
  state_->sessions.forget_drain();
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->cancel_sessions();
}

template <class Transport>
typename HttpServer<Transport>::Acceptor& HttpServer<Transport>::acceptor() {
  return state_->acceptor;
}

template <class Transport>
Transport& HttpServer<Transport>::transport() {
  return state_->transport;
}

template <class Transport>
void HttpServer<Transport>::on_refusal(RefusalCount count) {
  state_->count = std::move(count);
}

template <class Transport>
void HttpServer<Transport>::start() {
  boost::asio::co_spawn(state_->acceptor.get_executor(), State::accept_loop(state_),
                        log_coroutine_failure("accept_stopped", Transport::kName));
}

template <class Transport>
const SessionLimits& HttpServer<Transport>::limits() const {
  return state_->limits;
}

template <class Transport>
void HttpServer<Transport>::set_limits(const SessionLimits& limits) {
  state_->limits = limits;
}

template <class Transport>
void HttpServer<Transport>::stop() {
  if (state_->stopping) return;
  state_->stopping = true;
  boost::system::error_code ec;
  state_->acceptor.cancel(ec);
  state_->acceptor.close(ec);
  // Idle connections and requests still arriving end now (a read started later sees EOF); the
  // others after their answer.
  for (auto* session : state_->sessions.all()) {
    if (session->phase != State::Session::Phase::reading) continue;
    auto& socket = session->socket;
    socket.shutdown(State::Protocol::socket::shutdown_receive, ec);
    socket.cancel(ec);
  }
}

template <class Transport>
bool HttpServer<Transport>::stopping() const {
  return state_->stopping;
}

template <class Transport>
void HttpServer<Transport>::drain(std::chrono::steady_clock::duration deadline,
                                  std::function<void()> done) {
  state_->sessions.drain(
      deadline, std::move(done), std::weak_ptr<State>(state_),
      +[](State& state) { state.cancel_sessions(); });
}

template <class Transport>
std::size_t HttpServer<Transport>::connections() const {
  return state_->sessions.size();
}

}  // namespace purgeq
