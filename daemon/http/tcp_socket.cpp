// Binding and naming TCP sockets.
#include "http/tcp_socket.h"

#include <fmt/format.h>

#include <stdexcept>

namespace purgeq {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void bind_tcp_acceptor(tcp::acceptor& acceptor, const std::string& address, unsigned short port,
                       std::string_view key) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: \"{}\" is not an IP address", key, address));
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("{}: cannot listen on {}:{}: {}", key, address, port, ec.message()));
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
}

std::string tcp_peer_of(tcp::socket& socket) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);  // a reset socket is the session's problem
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

unsigned short tcp_port_of(const tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  const auto endpoint = acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace purgeq
