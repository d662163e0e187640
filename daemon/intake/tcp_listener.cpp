// TCP accept loop and per-connection HTTP sessions for Cloudflare API clients.
#include "intake/tcp_listener.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "observe/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

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
    bool reading = true;  // idle or receiving a request: may be closed by stop()
  };

  State(asio::io_context& io, Handler h, const TcpListenerOptions& o)
      : acceptor(io), handler(std::move(h)), options(o) {}

  tcp::acceptor acceptor;
  Handler handler;
  TcpListenerOptions options;
  std::set<Session*> sessions;
  bool stopping = false;
  std::function<void()> drained;
  std::optional<asio::steady_timer> drain_timer;

  void remove(Session* session) {
    if (sessions.erase(session) == 0) return;
    if (sessions.empty() && drained) {
      if (drain_timer) drain_timer->cancel();
      asio::post(acceptor.get_executor(), std::exchange(drained, nullptr));
    }
  }

  void close_all() {
    for (auto* session : std::vector<Session*>(sessions.begin(), sessions.end())) {
      boost::system::error_code ec;
      session->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      session->stream.socket().cancel(ec);
    }
  }
};

namespace {

using State = TcpListener::State;
using Session = TcpListener::State::Session;

asio::awaitable<void> session_loop(std::shared_ptr<State> state, std::shared_ptr<Session> self) {
  struct Unregister {
    std::shared_ptr<State> state;
    Session* session;
    ~Unregister() { state->remove(session); }
  } unregister{state, self.get()};
  const std::string remote = remote_of(self->stream.socket());
  beast::flat_buffer buffer;
  try {
    while (!state->stopping) {
      self->reading = true;
      http::request_parser<http::string_body> parser;
      parser.body_limit(state->options.body_limit);
      parser.header_limit(64 * 1024);
      self->stream.expires_after(state->options.io_deadline);
      auto [read_ec, read_n] =
          co_await http::async_read(self->stream, buffer, parser, as_tuple(use_awaitable));
      self->reading = false;
      std::optional<HttpResponseMessage> response;
      if (read_ec == http::error::body_limit) {
        response =
            envelope_error(http::status::payload_too_large, 1012,
                           fmt::format("request body exceeds {} bytes", state->options.body_limit));
      } else if (read_ec) {
        if (parser.got_some() && read_ec != http::error::end_of_stream &&
            read_ec != asio::error::eof && read_ec != asio::error::operation_aborted &&
            read_ec != beast::error::timeout && read_ec != asio::error::connection_reset) {
          response = envelope_error(http::status::bad_request, 1012, "malformed HTTP request");
        }
      } else {
        response = co_await state->handler(parser.release(), remote);
        if (state->stopping) response->keep_alive(false);
      }
      if (!response) break;
      self->stream.expires_after(state->options.io_deadline);
      auto [write_ec, write_n] =
          co_await http::async_write(self->stream, *response, as_tuple(use_awaitable));
      if (write_ec || !response->keep_alive()) break;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
  boost::system::error_code ec;
  self->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  self->stream.socket().close(ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  while (!state->stopping) {
    auto [ec, socket] = co_await state->acceptor.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || state->stopping) break;
      // EMFILE and friends: back off instead of spinning on a failing accept.
      log::warning("accept_failed", "listener=tcp error={}", log::quote(ec.message()));
      asio::steady_timer pause(state->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (state->sessions.size() >= state->options.max_connections) {
      // Answered without reading the request: the client sees Cloudflare-style 503 and retries.
      auto busy = std::make_shared<tcp::socket>(std::move(socket));
      auto answer = std::make_shared<HttpResponseMessage>(
          envelope_error(http::status::service_unavailable, 10503,
                         fmt::format("purgeqd holds {} TCP connections, its limit; try again later",
                                     state->options.max_connections)));
      http::async_write(*busy, *answer, [busy, answer](boost::system::error_code, std::size_t) {
        boost::system::error_code ignored;
        busy->shutdown(tcp::socket::shutdown_both, ignored);
        busy->close(ignored);
      });
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    auto session = std::make_shared<Session>(std::move(socket));
    state->sessions.insert(session.get());
    asio::co_spawn(state->acceptor.get_executor(), session_loop(state, session),
                   [](const std::exception_ptr& error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       log::error("session_failed", "listener=tcp error={}", log::quote(e.what()));
                     }
                   });
  }
}

}  // namespace

TcpListener::TcpListener(asio::io_context& io, Handler handler, const TcpListenerOptions& options)
    : state_(std::make_shared<State>(io, std::move(handler), options)) {
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
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->close_all();
}

void TcpListener::start() {
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_),
                 [](const std::exception_ptr& error) {
                   if (!error) return;
                   try {
                     std::rethrow_exception(error);
                   } catch (const std::exception& e) {
                     log::error("accept_failed", "listener=tcp error={}", log::quote(e.what()));
                   }
                 });
}

void TcpListener::stop() {
  if (state_->stopping) return;
  state_->stopping = true;
  boost::system::error_code ec;
  state_->acceptor.cancel(ec);
  state_->acceptor.close(ec);
  for (auto* session : state_->sessions) {
    if (session->reading) session->stream.socket().cancel(ec);
  }
}

void TcpListener::drain(std::chrono::steady_clock::duration deadline, std::function<void()> done) {
  const auto executor = state_->acceptor.get_executor();
  if (state_->sessions.empty()) {
    asio::post(executor, std::move(done));
    return;
  }
  state_->drained = std::move(done);
  state_->drain_timer.emplace(executor);
  state_->drain_timer->expires_after(deadline);
  state_->drain_timer->async_wait(
      [weak = std::weak_ptr<State>(state_)](boost::system::error_code ec) {
        const auto state = weak.lock();
        if (ec || !state || !state->drained) return;
        state->close_all();
        std::exchange(state->drained, nullptr)();
      });
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
