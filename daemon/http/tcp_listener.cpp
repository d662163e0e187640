// The TCP listener's socket, its peers and its connection cap.
#include "http/tcp_listener.h"

#include <fmt/format.h>

#include <stdexcept>

#include "http/http_server_impl.h"

namespace purgeq {

template class HttpServer<TcpTransport>;

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

SessionLimits session_limits(const TcpListenerOptions& options) {
  SessionLimits limits;
  limits.body_limit = options.body_limit;
  limits.header_deadline = options.header_deadline;
  limits.io_deadline = options.io_deadline;
  limits.refusal_linger = options.refusal_linger;
  return limits;
}

}  // namespace

TcpTransport::Peer TcpTransport::identify(Protocol::socket& socket) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);  // a reset socket is the session's problem
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

std::optional<ConnectionRefusal> TcpTransport::admit(const Peer&) {
  if (open >= max_connections) {
    return ConnectionRefusal{
        "tcp.max_connections",
        fmt::format("purgeqd holds {} TCP connections and tcp.max_connections is {}; try again "
                    "later",
                    open, max_connections)};
  }
  ++open;
  return std::nullopt;
}

TcpListener::TcpListener(asio::io_context& io, Screen screen, Handler handler,
                         const TcpListenerOptions& options)
    : server_(io, TcpTransport{options.max_connections}, std::move(handler), std::move(screen),
              session_limits(options)) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("tcp.listen: \"{}\" is not an IP address", options.address));
  }
  const tcp::endpoint endpoint(address, options.port);
  auto& acceptor = server_.acceptor();
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("tcp.listen: cannot listen on {}:{}: {}", options.address,
                                         options.port, ec.message()));
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
}

void TcpListener::set_body_limit(std::size_t bytes) {
  SessionLimits limits = server_.limits();
  limits.body_limit = bytes;
  server_.set_limits(limits);
}

unsigned short TcpListener::port() {
  boost::system::error_code ec;
  const auto endpoint = server_.acceptor().local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace purgeq
