// The parts of the session loop that do not depend on the transport.
#include <poll.h>

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

#include "http/http_server_impl.h"

namespace purgeq {

void limit_request(boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
                   std::size_t body_limit) {
  parser.body_limit(body_limit);
  parser.header_limit(kHeaderLimit);
}

namespace http_server_detail {

PeerState probe_peer(int fd) {
  pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&pfd, 1, 0) <= 0) return PeerState::waiting;
  // POLLHUP: both directions are shut, which on a Unix socket means the peer closed its end (a
  // TCP peer's FIN only half-closes: it is polled until the answer is written).
  if ((pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) return PeerState::gone;
  return (pfd.revents & (POLLIN | POLLRDHUP)) != 0 ? PeerState::unsure : PeerState::waiting;
}

bool client_left(const boost::system::error_code& ec) {
  namespace asio = boost::asio;
  return ec == boost::beast::http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset;
}

boost::system::error_code parse_buffered(
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    boost::beast::flat_buffer& buffer) {
  parser.eager(true);
  while (!parser.is_done() && buffer.size() > 0) {
    boost::system::error_code ec;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == boost::beast::http::error::need_more) return {};
    if (ec) return ec;
    if (used == 0) return {};
  }
  return {};
}

std::string serialize(const HttpResponseMessage& response) {
  std::ostringstream out;
  out << response;
  return std::move(out).str();
}

}  // namespace http_server_detail
}  // namespace purgeq
