// The optional TCP listener for Cloudflare API clients (SDKs, flarectl-style tools): accepts on
// one address (loopback unless the config says otherwise) and runs one HTTP/1.1 session coroutine
// per connection with read/write deadlines, a body size bound and a connection limit. It knows
// nothing of tokens or routes: its handler (Api::handle_client) decides everything.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "intake/api.h"

namespace purgeq {

struct TcpListenerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port (tests)
  std::size_t body_limit = std::size_t{8} * 1024 * 1024;
  // A request's header, and an idle keep-alive connection's next one, must arrive within this:
  // a slow client cannot hold a slot for long without sending a request.
  std::chrono::milliseconds header_deadline{10'000};
  std::chrono::milliseconds io_deadline{30'000};  // per body read and per write
  std::size_t max_connections = 256;
  // A refused connection's answer is followed by reading (and dropping) what the client still
  // sends for up to this long: closing on unread data resets the connection, and the client
  // would see a broken pipe instead of the answer.
  std::chrono::milliseconds refusal_linger{1000};
};

class TcpListener {
 public:
  // The peer's address ("127.0.0.1:53122") for logs; the handler must not trust it for access.
  using Handler = std::function<boost::asio::awaitable<HttpResponseMessage>(
      const HttpRequestMessage&, const std::string& remote)>;
  // Called with the request's header (its body not read yet): an answer refuses the request and
  // closes the connection without reading the body; nullopt reads the body and calls Handler.
  using Screen = std::function<std::optional<HttpResponseMessage>(const HttpRequestMessage&,
                                                                  const std::string& remote)>;

  // Binds at once (so a taken port fails the start with a clear error); accepts after start().
  TcpListener(boost::asio::io_context& io, Screen screen, Handler handler,
              const TcpListenerOptions& options);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  void start();
  // Stops accepting and closes idle connections; requests being handled finish.
  void stop();
  // After stop(): `done` (posted) once every session has ended, or at `deadline`, when the rest
  // are cut.
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done);

  [[nodiscard]] unsigned short port() const;
  [[nodiscard]] std::size_t connections() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace purgeq
