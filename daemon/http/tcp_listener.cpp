// The TCP listener's socket, its peers and its connection cap.
#include "http/tcp_listener.h"

#include <fmt/format.h>

#include "http/http_server_impl.h"
#include "http/tcp_socket.h"

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
  return tcp_peer_of(socket);
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
  bind_tcp_acceptor(server_.acceptor(), options.address, options.port, "tcp.listen");
}

void TcpListener::set_body_limit(std::size_t bytes) {
  SessionLimits limits = server_.limits();
  limits.body_limit = bytes;
  server_.set_limits(limits);
}

unsigned short TcpListener::port() {
  return tcp_port_of(server_.acceptor());
}

}  // namespace purgeq
