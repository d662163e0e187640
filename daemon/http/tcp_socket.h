// What every TCP listener does with its sockets: bind the acceptor to an address (failing the start
// with a message that names the config key), and name a peer by its address for logs.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

namespace purgeq {

// Opens, binds and listens: throws std::runtime_error "KEY: cannot listen on ADDRESS:PORT: why"
// (or "KEY: "ADDRESS" is not an IP address"), so a taken port fails the start clearly.
void bind_tcp_acceptor(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                       unsigned short port, std::string_view key);

// "127.0.0.1:53122", or "unknown" for a socket already reset. Also turns Nagle off: answers are
// written whole.
std::string tcp_peer_of(boost::asio::ip::tcp::socket& socket);

// The port the acceptor listens on (0 when it does not).
unsigned short tcp_port_of(const boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace purgeq
