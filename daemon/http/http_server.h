// The HTTP/1.1 server under both listeners, written once: an accept loop with connection limits,
// and one session coroutine per connection that reads each request's header then its body under
// deadlines and a body bound, lets the owner refuse a request on its header alone, watches for a
// client that leaves while its request is handled, answers 100-continue and HEAD, keeps the
// connection alive, and lingers after a refusal so the client reads the answer instead of a
// reset. stop() and drain() end it in bounded time.
//
// What differs between the Unix socket and the TCP listener is the Transport (unix_listener.h,
// tcp_listener.h): the socket type, who the peer is (SO_PEERCRED or an address), which
// connections are admitted, and how errors are spelled (purgeqd's JSON or Cloudflare's envelope).
//
// A Transport provides:
//   using Protocol;  using Peer;  static constexpr std::string_view kName;
//   static constexpr ErrorDialect kDialect;
//   static Peer identify(typename Protocol::socket&);
//   std::optional<ConnectionRefusal> admit(const Peer&);  void release(const Peer&);
//   static std::string log_fields(const Peer&);           // "uid=33 pid=4121", for log lines
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/connection_counter.h"
#include "http/error_code.h"
#include "http/responses.h"

namespace purgeq {

// The config key that bounds request bodies, named in the 413 so a client can say what to change.
inline constexpr std::string_view kBodyLimitKey = "intake.max_body_bytes";

// A request's header may have at most this many bytes.
inline constexpr std::size_t kHeaderLimit = std::size_t{64} * 1024;

// Sets the bounds every session reads a request under: `body_limit` bytes of body (a larger one
// fails with http::error::body_limit, answered 413) and kHeaderLimit of header. Also for the fuzz
// target that reads requests as the sessions do.
void limit_request(boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
                   std::size_t body_limit);

// Bounds of each session; set_limits() applies them to requests read from then on.
struct SessionLimits {
  std::size_t body_limit = std::size_t{8} * 1024 * 1024;  // bigger bodies get 413 body_too_large
  // A request's header, and an idle keep-alive connection's next one, must arrive within this.
  std::chrono::milliseconds header_deadline{30'000};
  std::chrono::milliseconds io_deadline{30'000};  // per body read and per write
  // After a refusal the session reads and drops what the client still sends for up to this long:
  // closing on unread data resets the connection, and the client would lose the answer.
  std::chrono::milliseconds refusal_linger{1000};
};

template <class Transport>
class HttpServer {
 public:
  using Peer = typename Transport::Peer;
  using Acceptor = typename Transport::Protocol::acceptor;
  // Answers one request; the session owns the connection around it.
  using Handler = std::function<boost::asio::awaitable<HttpResponseMessage>(
      const HttpRequestMessage&, const Peer&)>;
  // Called with a request's header, its body not read yet: an answer refuses the request and
  // closes the connection without reading the body; nullopt reads the body and calls Handler.
  using Screen =
      std::function<std::optional<HttpResponseMessage>(const HttpRequestMessage&, const Peer&)>;
  // Told the code of each refusal the server answers itself (connection limits, bodies over the
  // bound, unreadable requests), after it logged it: the owner counts them.
  using RefusalCount = std::function<void(ErrorCode)>;

  HttpServer(boost::asio::io_context& io, Transport transport, Handler handler, Screen screen,
             const SessionLimits& limits);
  // Cancels whatever sessions are left. Their coroutines may outlive the server (until the
  // io_context runs or destroys them) and touch only state they share with it.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] Acceptor& acceptor();
  [[nodiscard]] Transport& transport();
  void on_refusal(RefusalCount count);

  void start();
  [[nodiscard]] const SessionLimits& limits() const;
  void set_limits(const SessionLimits& limits);
  // Stops accepting and closes idle connections; requests being handled finish, are answered
  // with `Connection: close`, and their connections end.
  void stop();
  [[nodiscard]] bool stopping() const;
  // After stop(): calls `done` (posted) once every session has ended, or at `deadline`, when
  // every session left is cancelled (its socket shut down, its handler cancelled).
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done);
  [[nodiscard]] std::size_t connections() const;

  struct State;  // shared by the server and its coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace purgeq
