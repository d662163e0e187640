// The ports' sockets and connection caps; the session loop is the HTTP server's.
#include "http/port_listener.h"

#include <fmt/format.h>

#include "http/http_server_impl.h"
#include "http/tcp_socket.h"

namespace purgeq {

template <class Port>
typename PortTransport<Port>::Peer PortTransport<Port>::identify(Protocol::socket& socket) {
  return tcp_peer_of(socket);
}

template <class Port>
std::optional<ConnectionRefusal> PortTransport<Port>::admit(const Peer&) {
  if (open >= max_connections) {
    return ConnectionRefusal{
        std::string(Port::kKey),
        fmt::format("the {} port holds {} connections, its most; try again later", Port::kName,
                    open)};
  }
  ++open;
  return std::nullopt;
}

template <class Port>
PortListener<Port>::PortListener(boost::asio::io_context& io, Screen screen, Handler handler,
                                 const PortListenerOptions& options)
    : server_(io, PortTransport<Port>{options.max_connections}, std::move(handler),
              std::move(screen),
              SessionLimits{.body_limit = options.body_limit,
                            .header_deadline = options.header_deadline,
                            .io_deadline = options.io_deadline,
                            .refusal_linger = options.refusal_linger}) {
  bind_tcp_acceptor(server_.acceptor(), options.address, options.port, Port::kKey);
}

template <class Port>
unsigned short PortListener<Port>::port() {
  return tcp_port_of(server_.acceptor());
}

template class HttpServer<PortTransport<MetricsPort>>;
template class HttpServer<PortTransport<DashboardPort>>;
template struct PortTransport<MetricsPort>;
template struct PortTransport<DashboardPort>;
template class PortListener<MetricsPort>;
template class PortListener<DashboardPort>;

}  // namespace purgeq
