// The TCP listener on a real loopback port: requests screened on their header before any body is
// read, refusals that reach the client instead of a reset, the connection limit, HEAD and
// Expect: 100-continue, and stop and drain.
#include "http/tcp_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

// A listener on its own io thread whose screen refuses requests without "Authorization: ok".
class TcpListenerTest : public ::testing::Test {
 protected:
  void start(TcpListenerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    listener_.emplace(
        io_,
        [this](const HttpRequestMessage& header,
               const std::string&) -> std::optional<HttpResponseMessage> {
          ++screened_;
          if (header[http::field::authorization] == "ok") return std::nullopt;
          HttpResponseMessage refused{http::status::unauthorized, 11};
          refused.body() = "refused";
          refused.prepare_payload();
          return refused;
        },
        [this](const HttpRequestMessage& request,
               const std::string&) -> asio::awaitable<HttpResponseMessage> {
          if (request.target() == "/slow") {
            // A handler stuck on something slow (a store job, in the daemon).
            asio::steady_timer wait(co_await asio::this_coro::executor, 60s);
            co_await wait.async_wait(asio::use_awaitable);
          }
          ++handled_;
          last_body_size_ = request.body().size();
          HttpResponseMessage ok{http::status::ok, 11};
          ok.keep_alive(request.keep_alive());
          ok.body() = "handled " + std::to_string(request.body().size());
          ok.prepare_payload();
          co_return ok;
        },
        options);
    listener_->on_refusal([this](ErrorCode code) {
      const std::lock_guard lock(refusals_mutex_);
      refusals_.push_back(code);
    });
    port_ = listener_->port();
    listener_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (listener_) {
      std::promise<void> stopped;
      asio::post(io_, [&] {
        listener_->stop();
        listener_->drain(2s, [&] { stopped.set_value(); });
      });
      stopped.get_future().wait_for(5s);
    }
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int connect_client() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  static void send_all(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  // Everything the server sends until it closes, or until `quiet` passes with nothing new.
  static std::string read_until_quiet(int fd, std::chrono::milliseconds quiet = 2000ms) {
    std::string out;
    char buffer[4096];
    for (;;) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(quiet.count())) <= 0) break;
      const auto n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::optional<TcpListener> listener_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::atomic<int> screened_{0};
  std::atomic<int> handled_{0};
  std::atomic<std::size_t> last_body_size_{0};
  std::mutex refusals_mutex_;
  std::vector<ErrorCode> refusals_;  // what the listener reported refusing, in order

  std::vector<ErrorCode> refusals() {
    const std::lock_guard lock(refusals_mutex_);
    return refusals_;
  }
};

TEST_F(TcpListenerTest, ARefusedHeaderIsAnsweredBeforeItsBodyIsSent) {
  start();
  const int fd = connect_client();
  // Announces 8 MiB but sends none of it: the answer must come anyway, from the header alone.
  send_all(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 8000000\r\n\r\n");
  const auto answer = read_until_quiet(fd);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 401")) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_EQ(handled_, 0);
  ::close(fd);
}

TEST_F(TcpListenerTest, TheRefusalSurvivesAClientThatKeepsSending) {
  start();
  const int fd = connect_client();
  const std::string body(3 * 1024 * 1024, 'x');
  std::thread writer([&] {
    send_all(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n");
    send_all(fd, body);
  });
  const auto answer = read_until_quiet(fd);
  writer.join();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 401")) << "a reset would lose the answer";
  ::close(fd);
}

TEST_F(TcpListenerTest, AnAdmittedRequestIsReadWholeAndKeepsItsConnection) {
  start();
  const int fd = connect_client();
  for (int i = 0; i < 2; ++i) {
    send_all(fd,
             "POST /x HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\nContent-Length: 5\r\n\r\nhello");
    const auto answer = read_until_quiet(fd, 500ms);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
    EXPECT_NE(answer.find("handled 5"), std::string::npos) << answer;
  }
  EXPECT_EQ(handled_, 2);
  ::close(fd);
}

TEST_F(TcpListenerTest, ExpectContinueGetsA100BeforeTheBody) {
  start();
  const int fd = connect_client();
  send_all(fd,
           "POST /x HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\nExpect: 100-continue\r\n"
           "Content-Length: 3\r\n\r\n");
  const auto interim = read_until_quiet(fd, 1000ms);
  EXPECT_TRUE(interim.starts_with("HTTP/1.1 100 Continue")) << interim;
  send_all(fd, "abc");
  const auto answer = read_until_quiet(fd, 500ms);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
  ::close(fd);
}

TEST_F(TcpListenerTest, HeadAnswersCarryNoBody) {
  start();
  const int fd = connect_client();
  send_all(fd,
           "HEAD /x HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\n\r\n"
           "POST /x HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\nContent-Length: 2\r\n\r\nhi");
  const auto answers = read_until_quiet(fd, 1000ms);
  // The HEAD answer's headers, then directly the next answer: no body in between.
  const auto second = answers.find("HTTP/1.1 200", 1);
  ASSERT_NE(second, std::string::npos) << answers;
  EXPECT_EQ(answers.substr(0, second).find("handled"), std::string::npos) << answers;
  EXPECT_NE(answers.find("handled 2", second), std::string::npos) << answers;
  ::close(fd);
}

TEST_F(TcpListenerTest, OverTheConnectionLimitA503ReachesTheClient) {
  TcpListenerOptions options;
  options.max_connections = 2;
  start(options);
  const int a = connect_client();
  const int b = connect_client();
  std::this_thread::sleep_for(100ms);  // both accepted
  const int c = connect_client();
  send_all(c, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                  std::string(100000, 'y'));
  const auto answer = read_until_quiet(c);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("Retry-After: 5"), std::string::npos) << answer;
  EXPECT_EQ(screened_, 0);
  for (const int fd : {a, b, c}) ::close(fd);
}

TEST_F(TcpListenerTest, ASilentConnectionIsClosedAtTheHeaderDeadline) {
  TcpListenerOptions options;
  options.header_deadline = 300ms;
  start(options);
  const int fd = connect_client();
  send_all(fd, "POST /x HTTP/1.1\r\nHost: t\r\n");  // never finishes its header
  const auto started = std::chrono::steady_clock::now();
  pollfd pfd{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 3000), 1);
  char byte = 0;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0) << "closed";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  ::close(fd);
}

TEST_F(TcpListenerTest, StopClosesIdleConnectionsAndDrainEnds) {
  start();
  const int fd = connect_client();
  std::this_thread::sleep_for(100ms);
  std::promise<void> drained;
  asio::post(io_, [&] {
    listener_->stop();
    listener_->drain(5s, [&] { drained.set_value(); });
  });
  EXPECT_EQ(drained.get_future().wait_for(2s), std::future_status::ready);
  char byte = 0;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0) << "the idle connection was closed";
  ::close(fd);
  listener_.reset();
}

TEST_F(TcpListenerTest, TheStopDeadlineCancelsAHandlerThatIsStillRunning) {
  start();
  const int fd = connect_client();
  send_all(fd, "POST /slow HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\nContent-Length: 0\r\n\r\n");
  std::this_thread::sleep_for(200ms);  // the handler is waiting
  std::promise<void> drained;
  const auto started = std::chrono::steady_clock::now();
  asio::post(io_, [&] {
    listener_->stop();
    listener_->drain(300ms, [&] { drained.set_value(); });
  });
  ASSERT_EQ(drained.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  // Cancelled, not left suspended: the session ends and gives its slot back.
  for (int i = 0; i < 50; ++i) {
    std::promise<std::size_t> count;
    asio::post(io_, [&] { count.set_value(listener_->connections()); });
    if (count.get_future().get() == 0) break;
    std::this_thread::sleep_for(20ms);
  }
  std::promise<std::size_t> final_count;
  asio::post(io_, [&] { final_count.set_value(listener_->connections()); });
  EXPECT_EQ(final_count.get_future().get(), 0U);
  EXPECT_EQ(handled_, 0) << "the slow handler never finished";
  ::close(fd);
}

TEST_F(TcpListenerTest, AContentLengthOverTheBoundGetsA413InCloudflaresEnvelope) {
  TcpListenerOptions options;
  options.body_limit = 1000;
  start(options);
  const int fd = connect_client();
  send_all(fd, "POST /x HTTP/1.1\r\nHost: t\r\nAuthorization: ok\r\nContent-Length: 5000\r\n\r\n" +
                   std::string(2000, 'x'));
  const auto answer = read_until_quiet(fd);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
  EXPECT_NE(answer.find(R"("errors":[{"code":1012,"message":"request body exceeds )"
                        R"(intake.max_body_bytes (1000 bytes))"),
            std::string::npos)
      << answer;
  EXPECT_EQ(handled_, 0);
  EXPECT_EQ(refusals(), std::vector<ErrorCode>{ErrorCode::body_too_large});
  ::close(fd);
}

TEST_F(TcpListenerTest, WithoutATokenAnOversizedRequestIsRefusedForTheToken) {
  TcpListenerOptions options;
  options.body_limit = 1000;
  start(options);
  const int fd = connect_client();
  send_all(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  const auto answer = read_until_quiet(fd);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 401")) << "the screen speaks first: " << answer;
  EXPECT_EQ(screened_, 1);
  EXPECT_TRUE(refusals().empty()) << "the screen's owner counts its own refusals";
  ::close(fd);
}

TEST_F(TcpListenerTest, RefusedConnectionsAreCountedAndNameTheLimit) {
  TcpListenerOptions options;
  options.max_connections = 1;
  start(options);
  const int a = connect_client();
  std::this_thread::sleep_for(100ms);
  const int b = connect_client();
  send_all(b, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  const auto answer = read_until_quiet(b);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("tcp.max_connections is 1"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"("code":10503)"), std::string::npos) << answer;
  EXPECT_EQ(refusals(), std::vector<ErrorCode>{ErrorCode::too_many_connections});
  for (const int fd : {a, b}) ::close(fd);
}

}  // namespace
}  // namespace purgeq
