// HttpClient against a small HTTP/1.1 server on 127.0.0.1 run on threads inside the test: status
// codes, Retry-After, timeouts, dropped connections, keep-alive reuse, concurrency, cancellation
// and teardown. The io_context always runs in the test thread with a deadline.
#include "io/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace purgeq {
namespace {

using namespace std::chrono_literals;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct SeenRequest {
  std::string method;
  std::string path;
  std::string version;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  [[nodiscard]] std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A blocking HTTP/1.1 server: one thread accepts, one thread per connection serves requests in
// a keep-alive loop. The path picks the behaviour (see respond()).
class TestServer {
 public:
  TestServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 256) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen failed");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      // Wakes workers blocked in recv(); their fds stay open until they close them.
      for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    stop_cv_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);  // makes the blocked accept() fail on Linux
    acceptor_.join();
    ::close(listen_fd_);
    for (std::thread& worker : workers_) worker.join();  // no new workers after the acceptor
  }

  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  [[nodiscard]] int accepts() const { return accepts_.load(); }
  [[nodiscard]] int requests() const { return requests_.load(); }
  [[nodiscard]] std::vector<SeenRequest> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;
      }
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      ++accepts_;
      open_.insert(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string buffer;
    while (auto request = read_request(fd, buffer)) {
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(*request);
      }
      ++requests_;
      if (!respond(fd, *request)) break;
    }
    {
      std::lock_guard lock(mutex_);
      open_.erase(fd);
    }
    ::close(fd);
  }

  static std::optional<SeenRequest> read_request(int fd, std::string& buffer) {
    std::size_t header_end = std::string::npos;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!receive_more(fd, buffer)) return std::nullopt;
    }
    SeenRequest request;
    std::string_view head(buffer.data(), header_end);
    const auto line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const auto sp1 = request_line.find(' ');
    const auto sp2 = request_line.rfind(' ');
    request.method = std::string(request_line.substr(0, sp1));
    request.path = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    request.version = std::string(request_line.substr(sp2 + 1));
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      const std::string_view line = head.substr(pos, next - pos);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        request.headers[lower(line.substr(0, colon))] = std::string(value);
      }
      pos = next + 2;
    }
    const std::string length = request.header("content-length");
    const std::size_t body_size = length.empty() ? 0 : std::stoul(length);
    const std::size_t body_start = header_end + 4;
    while (buffer.size() < body_start + body_size) {
      if (!receive_more(fd, buffer)) return std::nullopt;
    }
    request.body = buffer.substr(body_start, body_size);
    buffer.erase(0, body_start + body_size);
    return request;
  }

  static bool receive_more(int fd, std::string& buffer) {
    char chunk[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffer.append(chunk, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  static bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  static bool reply(int fd, int status, std::string_view reason, std::string_view body,
                    std::string_view extra_headers = {}) {
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n" + std::string(extra_headers) + "\r\n";
    out += body;
    return send_all(fd, out);
  }

  // Returns whether to keep the connection open for the next request.
  bool respond(int fd, const SeenRequest& request) {
    const std::string& path = request.path;
    if (path == "/ok") return reply(fd, 200, "OK", R"({"success":true})");
    if (path == "/ok-close") {
      reply(fd, 200, "OK", R"({"success":true})", "Connection: close\r\n");
      return false;
    }
    if (path == "/429") {
      return reply(fd, 429, "Too Many Requests", R"({"success":false})", "Retry-After: 7\r\n");
    }
    if (path == "/429-custom") {
      // The test picks the Retry-After value through a request header.
      return reply(fd, 429, "Too Many Requests", R"({"success":false})",
                   "Retry-After: " + request.header("x-test-retry-after") + "\r\n");
    }
    if (path == "/503") return reply(fd, 503, "Service Unavailable", R"({"success":false})");
    if (path == "/redirect") return reply(fd, 302, "Found", "", "Location: /ok\r\n");
    if (path == "/big") return reply(fd, 200, "OK", std::string(2 * 1024 * 1024, 'x'));
    if (path == "/close") return false;  // hang up without a word
    if (path == "/slow") {
      std::unique_lock lock(mutex_);
      stop_cv_.wait_for(lock, 5s, [this] { return stopping_; });
      lock.unlock();
      return reply(fd, 200, "OK", R"({"success":true})");
    }
    if (path.starts_with("/echo")) {
      return reply(fd, 200, "OK",
                   "authorization=" + request.header("authorization") + "\nbody=" + request.body);
    }
    return reply(fd, 404, "Not Found", "{}");
  }

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // guarded by mutex_ until the acceptor has stopped
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::set<int> open_;  // connection fds a worker still owns
  std::vector<SeenRequest> seen_;
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
};

// Runs the loop in slices until `done` holds or the deadline passes. Slices keep conditions that
// another thread (the server) makes true from waiting for the whole deadline.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    if (io.run_one_for(10ms) == 0 && io.stopped()) std::this_thread::sleep_for(1ms);
  }
  return true;
}

HttpRequest make_request(std::string url, std::chrono::milliseconds timeout = 5s) {
  HttpRequest request;
  request.url = std::move(url);
  request.body = R"({"purge_everything":true})";
  request.timeout = timeout;
  return request;
}

class HttpClientTest : public ::testing::Test {
 protected:
  // Sends one request and returns its response, checking the handler ran exactly once.
  HttpResponse send(HttpRequest request) {
    int calls = 0;
    HttpResponse response;
    client.post(std::move(request), [&](HttpResponse r) {
      ++calls;
      response = std::move(r);
    });
    EXPECT_TRUE(run_until(io, [&] { return calls > 0; }));
    io.restart();
    io.run_for(20ms);  // a second call would show up here
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(client.in_flight(), 0U);
    return response;
  }

  // Declaration order matters: the client goes first, then the server, then the loop.
  boost::asio::io_context io;
  TestServer server;
  HttpClient client{io};
};

TEST_F(HttpClientTest, Returns200WithJsonBody) {
  const HttpResponse response = send(make_request(server.url("/ok")));
  EXPECT_EQ(response.transport_error, "");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, R"({"success":true})");
  EXPECT_FALSE(response.retry_after.has_value());
}

// Zone lookups read: a GET carries the query, the Authorization header and no body (curl would
// turn a request with POSTFIELDS into a POST).
TEST_F(HttpClientTest, GetSendsNoBodyAndNoContentType) {
  HttpRequest request = make_request(server.url("/echo?name=example.com&page=2"));
  request.method = HttpRequest::Method::get;
  request.headers.emplace_back("Authorization: Bearer t0ken");
  const HttpResponse response = send(std::move(request));
  EXPECT_EQ(response.status, 200);
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/echo?name=example.com&page=2");
  EXPECT_EQ(seen[0].header("authorization"), "Bearer t0ken");
  EXPECT_EQ(seen[0].header("content-type"), "");
  EXPECT_EQ(seen[0].body, "");
}

TEST_F(HttpClientTest, RateLimitedCarriesRetryAfter) {
  const HttpResponse response = send(make_request(server.url("/429")));
  EXPECT_EQ(response.transport_error, "");
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.body, R"({"success":false})");
  ASSERT_TRUE(response.retry_after.has_value());
  EXPECT_EQ(*response.retry_after, 7s);
}

TEST_F(HttpClientTest, RetryAfterValues) {
  const std::vector<std::pair<std::string, std::optional<std::chrono::seconds>>> cases = {
      {"0", 0s},
      {"120", 120s},
      {"  30  ", 30s},
      {"Wed, 21 Oct 2015 07:28:00 GMT", std::nullopt},  // HTTP-date: ignored
      {"-5", std::nullopt},
      {"1.5", std::nullopt},
      {"7s", std::nullopt},
      {"", std::nullopt},
      {"99999999999999999999999", std::nullopt},  // overflows int64
  };
  for (const auto& [value, expected] : cases) {
    SCOPED_TRACE("Retry-After: '" + value + "'");
    HttpRequest request = make_request(server.url("/429-custom"));
    request.headers.push_back("X-Test-Retry-After: " + value);
    const HttpResponse response = send(std::move(request));
    EXPECT_EQ(response.status, 429);
    EXPECT_EQ(response.retry_after, expected);
  }
}

TEST_F(HttpClientTest, ServiceUnavailableIsAnHttpAnswer) {
  const HttpResponse response = send(make_request(server.url("/503")));
  EXPECT_EQ(response.transport_error, "");
  EXPECT_EQ(response.status, 503);
  EXPECT_FALSE(response.retry_after.has_value());
}

TEST_F(HttpClientTest, RedirectIsNotFollowed) {
  const HttpResponse response = send(make_request(server.url("/redirect")));
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(HttpClientTest, SlowAnswerTimesOutWithoutLeakingAuthorization) {
  HttpRequest request = make_request(server.url("/slow"), 300ms);
  request.headers.emplace_back("Authorization: Bearer secret-token-xyz");
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse response = send(std::move(request));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(lower(response.transport_error).find("timeout"), std::string::npos)
      << response.transport_error;
  EXPECT_EQ(response.transport_error.find("secret-token-xyz"), std::string::npos);
  EXPECT_EQ(response.transport_error.find("Authorization"), std::string::npos);
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(HttpClientTest, ConnectionClosedWithoutAnswerIsTransportError) {
  const HttpResponse response = send(make_request(server.url("/close")));
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.transport_error, "");
  EXPECT_EQ(response.body, "");
}

TEST_F(HttpClientTest, OversizedResponseIsRefused) {
  const HttpResponse response = send(make_request(server.url("/big")));
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(response.transport_error.rfind("response too large", 0), 0U)
      << response.transport_error;
  EXPECT_EQ(response.body, "");
}

TEST_F(HttpClientTest, SendsBodyAuthorizationAndDefaultHeaders) {
  HttpRequest request = make_request(server.url("/echo"));
  request.headers.emplace_back("Authorization: Bearer test-token-123");
  request.body = R"({"files":["https://example.com/a"]})";
  const HttpResponse response = send(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "authorization=Bearer test-token-123\nbody=" + request.body);

  const std::vector<SeenRequest> seen = server.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].version, "HTTP/1.1");
  EXPECT_EQ(seen[0].header("content-type"), "application/json");
  EXPECT_EQ(seen[0].header("content-length"), std::to_string(request.body.size()));
  EXPECT_EQ(seen[0].headers.count("expect"), 0U);
  EXPECT_EQ(seen[0].header("user-agent").rfind("purgeq/", 0), 0U) << seen[0].header("user-agent");
}

TEST_F(HttpClientTest, CallerContentTypeIsKeptAlone) {
  HttpRequest request = make_request(server.url("/echo"));
  request.headers.emplace_back("content-type: application/x-test");
  EXPECT_EQ(send(request).status, 200);
  const std::vector<SeenRequest> seen = server.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].header("content-type"), "application/x-test");
}

TEST_F(HttpClientTest, LargeBodyArrivesWhole) {
  HttpRequest request = make_request(server.url("/echo"));
  request.body.assign(512 * 1024, 'b');  // several socket buffers: exercises write readiness
  const HttpResponse response = send(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "authorization=\nbody=" + request.body);
}

TEST_F(HttpClientTest, HeaderWithLineBreakIsRejected) {
  HttpRequest request = make_request(server.url("/ok"));
  request.headers.emplace_back("X-Evil: a\r\nAuthorization: Bearer smuggled");
  const HttpResponse response = send(std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(response.transport_error, "invalid request header");
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTest, OtherProtocolsAreRefused) {
  const HttpResponse response =
      send(make_request("ftp://127.0.0.1:" + server.url("").substr(17) + "/x"));
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.transport_error, "");
  EXPECT_EQ(server.accepts(), 0);
}

TEST_F(HttpClientTest, SequentialRequestsReuseConnections) {
  // Each request is sent from the previous one's handler, as the dispatcher does.
  int done = 0;
  std::function<void()> next = [&] {
    client.post(make_request(server.url("/ok")), [&](HttpResponse response) {
      EXPECT_EQ(response.status, 200);
      if (++done < 50) next();
    });
  };
  next();
  ASSERT_TRUE(run_until(io, [&] { return done == 50; }));
  EXPECT_EQ(server.requests(), 50);
  EXPECT_LE(server.accepts(), 2);
  EXPECT_EQ(client.in_flight(), 0U);
}

TEST_F(HttpClientTest, ClosedConnectionsAreReplacedWhenFdNumbersRepeat) {
  // The server closes after every answer, so curl drops each socket and the next one usually
  // gets the same fd number: the socket bookkeeping must not confuse the two.
  int done = 0;
  std::function<void()> next = [&] {
    client.post(make_request(server.url("/ok-close")), [&](HttpResponse response) {
      EXPECT_EQ(response.status, 200) << response.transport_error;
      if (++done < 30) next();
    });
  };
  next();
  ASSERT_TRUE(run_until(io, [&] { return done == 30; }));
  EXPECT_EQ(server.accepts(), 30);
}

TEST_F(HttpClientTest, ConcurrentRequestsCompleteExactlyOnce) {
  constexpr int kCount = 200;
  std::vector<int> calls(kCount, 0);
  int done = 0;
  for (int i = 0; i < kCount; ++i) {
    client.post(make_request(server.url("/ok"), 20s), [&, i](HttpResponse response) {
      EXPECT_EQ(response.status, 200) << response.transport_error;
      ++calls[static_cast<std::size_t>(i)];
      ++done;
    });
  }
  EXPECT_EQ(client.in_flight(), static_cast<std::size_t>(kCount));
  ASSERT_TRUE(run_until(
      io, [&] { return done == kCount; }, 30s));
  io.restart();
  io.run_for(50ms);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(calls[static_cast<std::size_t>(i)], 1) << i;
  EXPECT_EQ(client.in_flight(), 0U);
  EXPECT_EQ(server.requests(), kCount);
  EXPECT_LE(server.accepts(), 8);  // CURLMOPT_MAX_HOST_CONNECTIONS
}

TEST_F(HttpClientTest, ConnectionRefusedIsTransportError) {
  // A bound socket that never listens: connecting to its port is refused, and nobody else can
  // take the port meanwhile.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/ok";

  const HttpResponse response = send(make_request(url));
  ::close(fd);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.transport_error, "");
}

TEST_F(HttpClientTest, HandlerNeverRunsInsidePost) {
  int calls = 0;
  const auto count = [&](const HttpResponse&) { ++calls; };
  client.post(make_request(server.url("/ok")), count);
  client.post(make_request("http://127.0.0.1:1/ok"), count);  // refused
  HttpRequest bad = make_request(server.url("/ok"));
  bad.headers.emplace_back("X: \n");
  client.post(std::move(bad), count);  // fails before curl sees it
  client.post(make_request("ftp://127.0.0.1/x"), count);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(client.in_flight(), 4U);
  ASSERT_TRUE(run_until(io, [&] { return calls == 4; }));
  EXPECT_EQ(client.in_flight(), 0U);
}

TEST_F(HttpClientTest, CancelAllCompletesPendingAsCancelled) {
  constexpr int kCount = 5;
  std::vector<std::string> errors;
  for (int i = 0; i < kCount; ++i) {
    client.post(make_request(server.url("/slow"), 20s),
                [&](HttpResponse response) { errors.push_back(response.transport_error); });
  }
  ASSERT_TRUE(run_until(io, [&] { return server.requests() == kCount; }));
  client.cancel_all();
  EXPECT_TRUE(errors.empty());  // delivered later, not inside cancel_all()
  EXPECT_EQ(client.in_flight(), static_cast<std::size_t>(kCount));
  ASSERT_TRUE(run_until(
      io, [&] { return errors.size() == kCount; }, 2s));
  io.restart();
  io.run_for(50ms);
  ASSERT_EQ(errors.size(), static_cast<std::size_t>(kCount));
  for (const std::string& error : errors) EXPECT_EQ(error, "cancelled");
  EXPECT_EQ(client.in_flight(), 0U);

  // The client stays usable.
  EXPECT_EQ(send(make_request(server.url("/ok"))).status, 200);
}

TEST_F(HttpClientTest, CancelAllFromInsideAHandler) {
  std::vector<std::string> errors;
  client.post(make_request(server.url("/slow"), 20s),
              [&](HttpResponse response) { errors.push_back(response.transport_error); });
  client.post(make_request(server.url("/ok")), [&](HttpResponse response) {
    errors.push_back(std::to_string(response.status));
    client.cancel_all();
  });
  ASSERT_TRUE(run_until(io, [&] { return errors.size() == 2; }));
  EXPECT_EQ(errors, (std::vector<std::string>{"200", "cancelled"}));
  EXPECT_EQ(client.in_flight(), 0U);
}

TEST(HttpClientLifetime, DestroyingTheClientDropsHandlers) {
  boost::asio::io_context io;
  TestServer server;
  int calls = 0;
  auto client = std::make_unique<HttpClient>(io);
  // One transfer waiting on the socket, one whose failure is already queued, two cancelled.
  client->post(make_request(server.url("/slow"), 20s), [&](const HttpResponse&) { ++calls; });
  ASSERT_TRUE(run_until(io, [&] { return server.requests() == 1; }));
  HttpRequest bad = make_request(server.url("/ok"));
  bad.headers.emplace_back("X: \r");
  client->post(std::move(bad), [&](const HttpResponse&) { ++calls; });
  client->post(make_request(server.url("/ok")), [&](const HttpResponse&) { ++calls; });
  client->post(make_request(server.url("/ok")), [&](const HttpResponse&) { ++calls; });
  client->cancel_all();
  client.reset();
  io.restart();
  io.run_for(200ms);
  EXPECT_EQ(calls, 0);
}

TEST(HttpClientLifetime, HandlerMayDestroyTheClient) {
  boost::asio::io_context io;
  TestServer server;
  int calls = 0;
  auto client = std::make_unique<HttpClient>(io);
  client->post(make_request(server.url("/slow"), 20s), [&](const HttpResponse&) { ++calls; });
  client->post(make_request(server.url("/ok")), [&](const HttpResponse& response) {
    EXPECT_EQ(response.status, 200);
    ++calls;
    client.reset();
  });
  ASSERT_TRUE(run_until(io, [&] { return client == nullptr; }));
  io.restart();
  io.run_for(200ms);
  EXPECT_EQ(calls, 1);
}

TEST(HttpClientLifetime, ClientOutlivingItsServerFailsCleanly) {
  boost::asio::io_context io;
  HttpClient client(io);
  std::string error = "unset";
  {
    TestServer server;
    client.post(make_request(server.url("/slow"), 20s),
                [&](HttpResponse response) { error = response.transport_error; });
    ASSERT_TRUE(run_until(io, [&] { return server.requests() == 1; }));
    // Stopping the server breaks the connection while curl waits on it.
  }
  ASSERT_TRUE(run_until(io, [&] { return error != "unset"; }));
  EXPECT_NE(error, "");
}

}  // namespace
}  // namespace purgeq
