// One HTTP/1.1 request to purgeqd over its Unix socket (Boost.Beast), bounded in time and size.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace purgeq::cli {

enum class Method { get, post };

// Where a request stopped when no answer came back; decides the wording of the error.
enum class Failure {
  none,     // an HTTP answer arrived (any status)
  connect,  // the socket could not be opened: missing, refused, permission denied
  send,     // connected, but the request could not be written and no answer followed
  receive,  // the request went out; the answer never came whole (closed, timed out, too large)
};

struct HttpAnswer {
  Failure failure = Failure::none;
  boost::system::error_code error;  // set when failure != none
  unsigned status = 0;              // HTTP status when failure == none
  std::string body;                 // the answer's body, at most kMaxAnswerBytes
  // The answer's header fields (name, value) as received, except those about the connection and
  // the body's framing (Connection, Keep-Alive, Content-Length, Transfer-Encoding): what a proxy
  // passes on (purgeq dashboard).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Bound on an answer's body: /v1/failed lists up to 1,000 items, far below this.
inline constexpr std::size_t kMaxAnswerBytes = 64u << 20;

// Sends one request on a fresh connection and reads the whole answer. Never throws for I/O
// problems: they come back as `failure` + `error`. `timeout` bounds connect, send and receive
// together (beast::error::timeout when it runs out).
[[nodiscard]] HttpAnswer http_request(const std::string& socket_path, Method method,
                                      std::string_view target, std::string_view body,
                                      std::chrono::seconds timeout);

// "cannot reach purgeqd at PATH: No such file or directory (is the daemon running? ...)" and the
// like: the sentence for a failed answer, without the "purgeq: " prefix.
[[nodiscard]] std::string describe_failure(const std::string& socket_path, const HttpAnswer& answer,
                                           std::chrono::seconds timeout);

}  // namespace purgeq::cli
