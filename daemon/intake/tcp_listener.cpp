// TCP accept loop and per-connection HTTP sessions for Cloudflare API clients.
#include "intake/tcp_listener.h"

#include <fmt/format.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "intake/session_set.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

// What a lingering refused connection reads before giving up on the client.
constexpr std::size_t kLingerBytes = std::size_t{64} * 1024;
constexpr auto kAcceptWarningInterval = std::chrono::seconds(10);

// Cloudflare's envelope, so that an SDK reports these failures like any other API error.
HttpResponseMessage envelope_error(http::status status, int code, std::string_view message) {
  HttpResponseMessage response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() =
      boost::json::serialize(boost::json::object{
          {"success", false},
          {"errors", boost::json::array{boost::json::object{{"code", code}, {"message", message}}}},
          {"messages", boost::json::array{}},
          {"result", nullptr}}) +
      "\n";
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

std::string remote_of(const tcp::socket& socket) {
  boost::system::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace

struct TcpListener::State {
  struct Session {
    explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    // Bound to the session coroutine: emitting it cancels whatever the session awaits, its
    // handler's awaits included, so a stop deadline ends sessions rather than leaving them
    // suspended past the io_context.
    asio::cancellation_signal cancel;
    bool reading = true;  // idle or receiving a request: may be closed by stop()
  };

  State(asio::io_context& io, Screen s, Handler h, const TcpListenerOptions& o)
      : acceptor(io),
        screen(std::move(s)),
        handler(std::move(h)),
        options(o),
        sessions(io.get_executor()) {}

  tcp::acceptor acceptor;
  Screen screen;
  Handler handler;
  TcpListenerOptions options;
  SessionSet<Session> sessions;
  bool stopping = false;
  std::chrono::steady_clock::time_point last_accept_warning{};

  void remove(Session* session) { sessions.remove(session); }

  void close_all() {
    for (auto* session : sessions.all()) {
      boost::system::error_code ec;
      session->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      session->cancel.emit(asio::cancellation_type::terminal);
      session->stream.socket().cancel(ec);
    }
  }
};

namespace {

using State = TcpListener::State;
using Session = TcpListener::State::Session;

// After a refusal: stop sending, then read and drop what the client still sends until it closes
// or `linger` passes, so that the close does not reset the connection before the answer is read.
asio::awaitable<void> linger_close(beast::tcp_stream& stream, std::chrono::milliseconds linger) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 4096> sink{};
  std::size_t dropped = 0;
  stream.expires_after(linger);
  while (dropped < kLingerBytes) {
    auto [read_ec, n] =
        co_await stream.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
    if (read_ec) break;
    dropped += n;
  }
}

asio::awaitable<void> session_loop(std::shared_ptr<State> state, std::shared_ptr<Session> self) {
  const SessionGuard<State, Session> slot{state, self.get()};
  const std::string remote = remote_of(self->stream.socket());
  auto& stream = self->stream;
  beast::flat_buffer buffer;
  try {
    while (!state->stopping) {
      self->reading = true;
      http::request_parser<http::string_body> parser;
      parser.body_limit(state->options.body_limit);
      parser.header_limit(64 * 1024);
      stream.expires_after(state->options.header_deadline);
      auto [header_ec, header_n] =
          co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
      std::optional<HttpResponseMessage> response;
      bool linger = false;
      if (header_ec) {
        self->reading = false;
        if (parser.got_some() && header_ec != http::error::end_of_stream &&
            header_ec != asio::error::eof && header_ec != asio::error::operation_aborted &&
            header_ec != beast::error::timeout && header_ec != asio::error::connection_reset) {
          response = envelope_error(http::status::bad_request, 1012, "malformed HTTP request");
        }
      } else if (auto refused = state->screen(parser.get(), remote)) {
        // Refused on the header alone: its body is never read into memory.
        self->reading = false;
        response = std::move(refused);
        response->keep_alive(false);
        linger = true;
      } else {
        if (parser.get()[http::field::expect] == "100-continue") {
          http::response<http::empty_body> go_on{http::status::continue_, 11};
          stream.expires_after(state->options.io_deadline);
          co_await http::async_write(stream, go_on, use_awaitable);
        }
        stream.expires_after(state->options.io_deadline);
        auto [read_ec, read_n] =
            co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
        self->reading = false;
        if (read_ec == http::error::body_limit) {
          response = envelope_error(
              http::status::payload_too_large, 1012,
              fmt::format("request body exceeds {} bytes", state->options.body_limit));
          linger = true;
        } else if (read_ec) {
          break;
        } else {
          const bool head = parser.get().method() == http::verb::head;
          response = co_await state->handler(parser.release(), remote);
          if (state->stopping) response->keep_alive(false);
          if (head) {
            // A HEAD answer has the headers only; a body would be read as the next response.
            const auto length = response->body().size();
            response->body().clear();
            response->content_length(length);
          }
        }
      }
      if (!response) break;
      stream.expires_after(state->options.io_deadline);
      auto [write_ec, write_n] =
          co_await http::async_write(stream, *response, as_tuple(use_awaitable));
      if (linger && !write_ec) co_await linger_close(stream, state->options.refusal_linger);
      if (write_ec || !response->keep_alive()) break;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted && e.code() != beast::error::timeout) throw;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
}

// Refused at the connection limit: the 503 is written before the request is read, then the
// connection lingers like any refusal.
asio::awaitable<void> refuse(std::shared_ptr<State> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  auto answer =
      envelope_error(http::status::service_unavailable, 10503,
                     fmt::format("purgeqd holds {} TCP connections, its limit; try again later",
                                 state->options.max_connections));
  answer.set(http::field::retry_after, "5");
  stream.expires_after(state->options.io_deadline);
  auto [ec, n] = co_await http::async_write(stream, answer, as_tuple(use_awaitable));
  if (!ec) co_await linger_close(stream, state->options.refusal_linger);
  boost::system::error_code ignored;
  stream.socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  while (!state->stopping) {
    auto [ec, socket] = co_await state->acceptor.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || state->stopping) break;
      // EMFILE and friends: back off instead of spinning on a failing accept, and say so at
      // most once per interval.
      const auto now = std::chrono::steady_clock::now();
      if (now - state->last_accept_warning >= kAcceptWarningInterval) {
        log::warning("accept_failed", "listener=tcp error={}", log::quote(ec.message()));
        state->last_accept_warning = now;
      }
      asio::steady_timer pause(state->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (state->sessions.size() >= state->options.max_connections) {
      asio::co_spawn(state->acceptor.get_executor(), refuse(state, std::move(socket)),
                     log_coroutine_failure("session_failed", "tcp"));
      continue;
    }
    boost::system::error_code option_ec;
    socket.set_option(tcp::no_delay(true), option_ec);  // a reset socket is the session's problem
    auto session = std::make_shared<Session>(std::move(socket));
    state->sessions.add(session.get());
    // The completion handler keeps the session (and its cancellation signal) alive until the
    // coroutine has completed.
    asio::co_spawn(
        state->acceptor.get_executor(), session_loop(state, session),
        asio::bind_cancellation_slot(
            session->cancel.slot(), [session, log = log_coroutine_failure("session_failed", "tcp")](
                                        const std::exception_ptr& error) { log(error); }));
  }
}

}  // namespace

TcpListener::TcpListener(asio::io_context& io, Screen screen, Handler handler,
                         const TcpListenerOptions& options)
    : state_(std::make_shared<State>(io, std::move(screen), std::move(handler), options)) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("tcp.listen: \"{}\" is not an IP address", options.address));
  }
  const tcp::endpoint endpoint(address, options.port);
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("tcp.listen: cannot listen on {}:{}: {}", options.address,
                                         options.port, ec.message()));
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
}

TcpListener::~TcpListener() {
  state_->stopping = true;
  state_->sessions.forget_drain();
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->close_all();
}

void TcpListener::start() {
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_),
                 log_coroutine_failure("accept_stopped", "tcp"));
}

void TcpListener::stop() {
  if (state_->stopping) return;
  state_->stopping = true;
  boost::system::error_code ec;
  state_->acceptor.cancel(ec);
  state_->acceptor.close(ec);
  // Idle connections and requests still arriving end now (a read started later sees EOF); the
  // others after their answer.
  for (auto* session : state_->sessions.all()) {
    if (!session->reading) continue;
    session->stream.socket().shutdown(tcp::socket::shutdown_receive, ec);
    session->stream.socket().cancel(ec);
  }
}

void TcpListener::drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
  state_->sessions.drain(
      deadline, std::move(done), std::weak_ptr<State>(state_),
      +[](State& state) { state.close_all(); });
}

unsigned short TcpListener::port() const {
  boost::system::error_code ec;
  const auto endpoint = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

std::size_t TcpListener::connections() const {
  return state_->sessions.size();
}

}  // namespace purgeq
