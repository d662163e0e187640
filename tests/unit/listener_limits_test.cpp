// Connection limits: the counter's rules and messages, and the Listener on a real Unix socket:
// refusals answered with 503, idle connections closed, slots freed when a client leaves during a
// long request, stop and drain, and sessions that outlive the Listener.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/unix_listener.h"
#include "support/config_problems.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- ConnectionCounter ----

TEST(ConnectionCounterTest, APerUidCapRefusesThatUidOnlyAndNamesTheLimit) {
  ConnectionCounter counter(100, 3);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(counter.admit(33));
  const auto refusal = counter.admit(33);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->limit, "intake.max_connections_per_uid");
  EXPECT_EQ(refusal->message,
            "uid 33 has 3 open connections and intake.max_connections_per_uid is 3; close idle "
            "connections or try again later");
  EXPECT_FALSE(counter.admit(1000)) << "another uid still gets in";
  EXPECT_EQ(counter.total(), 4U);
  counter.release(33);
  EXPECT_FALSE(counter.admit(33)) << "a released slot is free again";
  EXPECT_EQ(counter.of(33), 3U);
}

TEST(ConnectionCounterTest, TheGlobalCapCountsEveryUid) {
  ConnectionCounter counter(5, 3);
  for (long uid = 0; uid < 5; ++uid) EXPECT_FALSE(counter.admit(uid));
  const auto refusal = counter.admit(99);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->limit, "intake.max_connections");
  EXPECT_EQ(refusal->message,
            "purgeqd has 5 open connections and intake.max_connections is 5; try again later");
  counter.release(2);
  counter.release(2);  // more releases than admissions change nothing
  EXPECT_EQ(counter.total(), 4U);
  EXPECT_FALSE(counter.admit(99));
}

TEST(ConnectionCounterTest, OneUidNeverTakesTheReserveOfTheGlobalCap) {
  ConnectionCounter counter(20, 50);  // a per-uid cap above the global cap
  EXPECT_EQ(counter.reserve(), 1U);
  EXPECT_EQ(counter.per_uid_limit(), 19U);
  for (int i = 0; i < 19; ++i) EXPECT_FALSE(counter.admit(0));
  const auto refusal = counter.admit(0);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->limit, "intake.max_connections_per_uid");
  EXPECT_NE(refusal->message.find("intake.max_connections_per_uid is 50"), std::string::npos);
  EXPECT_NE(refusal->message.find("intake.max_connections is 20 and 1 are kept for other uids"),
            std::string::npos)
      << refusal->message;
  EXPECT_FALSE(counter.admit(65534)) << "the reserved slot is another uid's";

  ConnectionCounter defaults(1024, 128);
  EXPECT_EQ(defaults.reserve(), 64U);
  EXPECT_EQ(defaults.per_uid_limit(), 128U);
  ConnectionCounter tiny(1, 1);
  EXPECT_EQ(tiny.per_uid_limit(), 1U) << "never below one";
}

TEST(ConnectionCounterTest, NewLimitsApplyToTheNextConnection) {
  ConnectionCounter counter(100, 10);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(counter.admit(7));
  counter.set_limits(100, 4);
  EXPECT_TRUE(counter.admit(7));
  EXPECT_EQ(counter.of(7), 5U) << "connections already open stay";
  counter.set_limits(100, 8);
  EXPECT_FALSE(counter.admit(7));
}

TEST(ConnectionCounterTest, LimitsComeFromTheIntakeSection) {
  Config::Intake intake;
  intake.max_connections = 300;
  intake.max_connections_per_uid = 7;
  const auto limits = listener_limits(intake);
  EXPECT_EQ(limits.max_connections, 300U);
  EXPECT_EQ(limits.max_connections_per_uid, 7U);
  EXPECT_EQ(limits.io_deadline, ListenerLimits{}.io_deadline);
}

TEST(ListenerLimitsTest, TheBodyLimitIsIntakeMaxBodyBytes) {
  constexpr const char* kConfig = R"(
dry_run: true
accounts:
  - name: main
    plan: enterprise
zones:
  - name: a.example
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
intake:
  max_body_bytes: {}
)";
  EXPECT_EQ(listener_limits(Config::Intake{}).body_limit, std::size_t{8} * 1024 * 1024);
  const Config config = load_config_string(fmt::format(kConfig, 4096));
  EXPECT_EQ(listener_limits(config.intake).body_limit, 4096U);
  EXPECT_EQ(test::problems_of(fmt::format(kConfig, 0)),
            std::vector<std::string>{"intake.max_body_bytes: must be at least 1, got 0"});
}

// ---- Listener on a real socket ----

// A blocking client connection with a receive timeout.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ADD_FAILURE() << "connect: " << std::strerror(errno);
    }
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  void shut_writes() { ::shutdown(fd_, SHUT_WR); }
  // Whatever arrives until `quiet` passes with nothing new (answers a parsed read() cannot take:
  // an interim 100, a HEAD answer's headers).
  std::string read_raw(std::chrono::milliseconds quiet = 500ms) {
    std::string out = std::exchange(pending_, {});
    while (receive(out, quiet)) {
    }
    return out;
  }
  bool get(const std::string& target) {
    return send(fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\n\r\n", target));
  }

  struct Answer {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
  };
  // One response; nullopt if the connection ended (or nothing came within `timeout`) first.
  std::optional<Answer> read(std::chrono::milliseconds timeout = 3000ms) {
    std::size_t header_end = std::string::npos;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive(pending_, timeout)) return std::nullopt;
    }
    Answer answer;
    const std::string head = pending_.substr(0, header_end);
    answer.status = std::stoi(head.substr(head.find(' ') + 1, 3));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      const auto next = head.find("\r\n", pos + 2);
      const auto line = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      answer.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      pos = next;
    }
    const auto length = std::stoul(answer.headers["content-length"]);
    while (pending_.size() < header_end + 4 + length) {
      if (!receive(pending_, timeout)) return std::nullopt;
    }
    answer.body = pending_.substr(header_end + 4, length);
    pending_.erase(0, header_end + 4 + length);  // a pipelined answer may follow
    return answer;
  }

  // True once the peer closed (EOF or reset) within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    std::string ignored;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (::poll(&pfd, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) continue;
      char buffer[4096];
      const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool receive(std::string& into, std::chrono::milliseconds timeout) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buffer[4096];
    const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    into.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

// A Listener on its own io_context thread. "/ok" answers at once, "/short" after 100 ms,
// "/slow" after 10 s (a long-poll); `busy` counts handlers running.
class ListenerTest : public ::testing::Test {
 protected:
  // Runs `fn` on the io thread and waits for it.
  template <class F>
  auto on_loop(F fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  void SetUp() override {
    char dir_template[] = "/tmp/purgeq_listener_test_XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    listen_.socket = dir_ + "/purgeq.sock";
    listen_.mode = 0600;
  }

  void TearDown() override {
    if (thread_.joinable()) {
      on_loop([this] { listener_.reset(); });
      work_.reset();
      io_.stop();
      thread_.join();
    }
    listener_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(ListenerLimits limits) {
    listener_.emplace(
        io_, [this](const HttpRequestMessage& request, const Peer&) { return respond(request); },
        listen_, std::nullopt, limits);
    listener_->on_refusal([this](ErrorCode code) {
      const std::lock_guard lock(refusals_mutex_);
      refusals_.push_back(code);
    });
    listener_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  asio::awaitable<HttpResponseMessage> respond(const HttpRequestMessage& request) {
    struct Busy {
      std::atomic<int>& count;
      explicit Busy(std::atomic<int>& c) : count(c) { ++count; }
      ~Busy() { --count; }
    } busy{busy_};
    const std::string target(request.target());
    const auto delay = target == "/slow" ? 10s : target == "/short" ? 100ms : 0ms;
    if (delay > 0ms) {
      asio::steady_timer timer(io_, delay);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    HttpResponseMessage response{http::status::ok, request.version()};
    response.body() = "{}\n";
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    co_return response;
  }

  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return condition();
  }

  // A connection answered once, kept open.
  std::unique_ptr<Client> held() {
    auto client = std::make_unique<Client>(listen_.socket);
    EXPECT_TRUE(client->get("/ok"));
    const auto answer = client->read();
    EXPECT_TRUE(answer && answer->status == 200);
    return client;
  }

  std::string dir_;
  Config::Listen listen_;
  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::optional<UnixListener> listener_;
  std::thread thread_;
  std::atomic<int> busy_{0};
  std::mutex refusals_mutex_;
  std::vector<ErrorCode> refusals_;  // what the listener reported refusing, in order

  std::vector<ErrorCode> refusals() {
    const std::lock_guard lock(refusals_mutex_);
    return refusals_;
  }
};

TEST_F(ListenerTest, ARefusedConnectionGetsA503NamingTheLimitThenIsClosed) {
  ListenerLimits limits;
  limits.max_connections_per_uid = 2;
  start(limits);
  auto first = held();
  auto second = held();
  Client refused(listen_.socket);
  // The answer is sent before the request is read; a client that writes afterwards still gets
  // it (the listener lingers), not a reset.
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(refused.get("/ok"));
  auto answer = refused.read();
  ASSERT_TRUE(answer) << "a refused connection must be answered";
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(answer->headers["retry-after"], "5");
  EXPECT_EQ(answer->headers["connection"], "close");
  EXPECT_EQ(answer->headers["content-type"], "application/json");
  const auto error = boost::json::parse(answer->body).at("error");
  EXPECT_EQ(error.at("code").as_string(), "too_many_connections");
  EXPECT_NE(
      std::string(error.at("message").as_string()).find("intake.max_connections_per_uid is 2"),
      std::string::npos);
  EXPECT_TRUE(refused.closed_within(2s));
  EXPECT_EQ(on_loop([this] { return listener_->connections(); }), 2U);
}

TEST_F(ListenerTest, AClosedConnectionGivesItsSlotBack) {
  ListenerLimits limits;
  limits.max_connections_per_uid = 2;
  start(limits);
  auto first = held();
  auto second = held();
  first->close();
  EXPECT_TRUE(
      wait_for([this] { return on_loop([this] { return listener_->connections(); }) == 1; }, 1s));
  auto third = held();
  EXPECT_EQ(on_loop([this] { return listener_->connections_of(static_cast<long>(::getuid())); }),
            2U);
}

TEST_F(ListenerTest, IdleConnectionsAreClosedAfterTheIoDeadline) {
  ListenerLimits limits;
  limits.io_deadline = 200ms;
  start(limits);
  const auto started = Clock::now();
  Client silent(listen_.socket);  // never sends a byte
  auto kept_alive = held();       // answered, then idle
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_TRUE(kept_alive->closed_within(2s));
  EXPECT_GE(Clock::now() - started, 190ms);
  EXPECT_TRUE(
      wait_for([this] { return on_loop([this] { return listener_->connections(); }) == 0; }, 1s));
}

TEST_F(ListenerTest, AClientThatLeavesDuringALongRequestFreesItsSlotAtOnce) {
  ListenerLimits limits;
  limits.max_connections_per_uid = 2;
  start(limits);
  Client first(listen_.socket);
  Client second(listen_.socket);
  ASSERT_TRUE(first.get("/slow"));
  ASSERT_TRUE(second.get("/slow"));
  ASSERT_TRUE(wait_for([this] { return busy_ == 2; }, 2s));
  first.close();
  second.close();
  // Both handlers are cancelled and both slots are free long before the 10 s are up.
  EXPECT_TRUE(wait_for([this] { return busy_ == 0; }, 1s));
  EXPECT_TRUE(
      wait_for([this] { return on_loop([this] { return listener_->connections(); }) == 0; }, 1s));
  auto third = held();
  auto fourth = held();
}

TEST_F(ListenerTest, AClientThatPipelinesIsNotTakenAsGone) {
  start({});
  Client client(listen_.socket);
  ASSERT_TRUE(
      client.send("GET /short HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 2; ++i) {
    const auto answer = client.read();
    ASSERT_TRUE(answer) << "answer " << i;
    EXPECT_EQ(answer->status, 200);
  }
}

TEST_F(ListenerTest, AClientThatHalfClosesStillGetsItsAnswer) {
  start({});
  Client client(listen_.socket);
  ASSERT_TRUE(client.get("/short"));
  client.shut_writes();  // "that was my request": it still reads the answer
  const auto answer = client.read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
}

TEST_F(ListenerTest, AClientThatSentMoreThenLeftIsNoticedToo) {
  ListenerLimits limits;
  limits.max_connections_per_uid = 1;
  start(limits);
  {
    Client client(listen_.socket);
    ASSERT_TRUE(client.get("/slow"));
    ASSERT_TRUE(wait_for([this] { return busy_ == 1; }, 2s));
    ASSERT_TRUE(client.get("/ok"));  // unread while /slow runs: the socket cannot be watched
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(wait_for([this] { return busy_ == 0; }, 3s));
  auto next = held();
}

TEST_F(ListenerTest, StopClosesIdleConnectionsAndAnswersBusyOnesThenDrains) {
  start({});
  auto idle = held();
  Client busy(listen_.socket);
  ASSERT_TRUE(busy.get("/short"));
  ASSERT_TRUE(wait_for([this] { return busy_ == 1; }, 2s));
  std::promise<void> drained;
  on_loop([&] {
    listener_->stop();
    listener_->drain(5s, [&] { drained.set_value(); });
  });
  EXPECT_TRUE(idle->closed_within(1s));
  auto answer = busy.read();
  ASSERT_TRUE(answer) << "a request being handled at the stop is answered";
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->headers["connection"], "close");
  EXPECT_TRUE(busy.closed_within(1s));
  EXPECT_EQ(drained.get_future().wait_for(1s), std::future_status::ready);
  EXPECT_NE(::access(listen_.socket.c_str(), F_OK), 0) << "the socket file is removed";
}

TEST_F(ListenerTest, TheDrainDeadlineCancelsWhatIsLeftAndSessionsOutliveTheListener) {
  start({});
  Client slow(listen_.socket);
  ASSERT_TRUE(slow.get("/slow"));
  ASSERT_TRUE(wait_for([this] { return busy_ == 1; }, 2s));
  std::promise<void> drained;
  const auto started = Clock::now();
  on_loop([&] {
    listener_->stop();
    listener_->drain(200ms, [&] { drained.set_value(); });
  });
  ASSERT_EQ(drained.get_future().wait_for(2s), std::future_status::ready);
  EXPECT_GE(Clock::now() - started, 190ms);
  // The Listener goes while its cancelled session may not have unwound yet; the session only
  // touches what it shares with the Listener.
  on_loop([this] { listener_.reset(); });
  EXPECT_TRUE(slow.closed_within(1s));
  EXPECT_TRUE(wait_for([this] { return busy_ == 0; }, 1s));
}

TEST_F(ListenerTest, ABodyOverTheBoundGetsA413NamingTheLimitAndIsCounted) {
  ListenerLimits limits;
  limits.body_limit = 1000;
  start(limits);
  // Announced over the bound: refused on the header, and the client still reads the answer
  // while the rest of its body is on its way (the listener lingers).
  Client announced(listen_.socket);
  ASSERT_TRUE(announced.send("POST /v1/purge HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                             std::string(3000, 'x')));
  auto answer = announced.read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 413);
  EXPECT_EQ(answer->headers["connection"], "close");
  EXPECT_EQ(answer->headers["content-type"], "application/json");
  const auto error = boost::json::parse(answer->body).at("error");
  EXPECT_EQ(error.at("code").as_string(), "body_too_large");
  EXPECT_EQ(error.at("message").as_string(),
            "request body exceeds intake.max_body_bytes (1000 bytes); split the items into "
            "several requests");
  EXPECT_TRUE(announced.closed_within(2s));
  // Chunked, the body is found too large as it arrives.
  Client chunked(listen_.socket);
  ASSERT_TRUE(
      chunked.send("POST /v1/purge HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5dc\r\n" +
                   std::string(1500, 'y') + "\r\n"));
  answer = chunked.read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 413);
  EXPECT_TRUE(wait_for([this] { return refusals().size() == 2; }, 1s));
  EXPECT_EQ(refusals(),
            (std::vector<ErrorCode>{ErrorCode::body_too_large, ErrorCode::body_too_large}));
}

TEST_F(ListenerTest, AnUnreadableRequestGetsA400AndIsCounted) {
  start({});
  Client client(listen_.socket);
  ASSERT_TRUE(client.send("GET /ok HTTP/1.1\r\nHost x\r\n\r\n"));  // a header without its colon
  const auto answer = client.read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_EQ(boost::json::parse(answer->body).at("error").at("code").as_string(), "bad_request");
  EXPECT_TRUE(client.closed_within(2s));
  EXPECT_EQ(refusals(), std::vector<ErrorCode>{ErrorCode::bad_request});
}

TEST_F(ListenerTest, RefusedConnectionsAreCounted) {
  ListenerLimits limits;
  limits.max_connections_per_uid = 1;
  start(limits);
  auto held_one = held();
  Client refused(listen_.socket);
  ASSERT_TRUE(refused.get("/ok"));
  const auto answer = refused.read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(refusals(), std::vector<ErrorCode>{ErrorCode::too_many_connections});
}

TEST_F(ListenerTest, ExpectContinueAndHeadAreAnsweredAsHttpSays) {
  start({});
  Client client(listen_.socket);
  ASSERT_TRUE(client.send(
      "POST /ok HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
  EXPECT_TRUE(client.read_raw().starts_with("HTTP/1.1 100 Continue\r\n"));
  ASSERT_TRUE(client.send("{}"));
  const auto posted = client.read();
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200);
  // A HEAD answer has its headers only: the next answer follows them directly.
  ASSERT_TRUE(
      client.send("HEAD /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string both = client.read_raw();
  const auto end_of_head = both.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos) << both;
  EXPECT_NE(both.find("Content-Length: 3\r\n"), std::string::npos) << both;
  EXPECT_EQ(both.substr(end_of_head + 4, 12), "HTTP/1.1 200") << both;
}

TEST(ListenerShutdownTest, AnIoContextDestroyedAfterTheListenerWithSessionsSuspended) {
  // The daemon's order: the loop stops, the Listener is destroyed, then the io_context destroys
  // the session coroutines still suspended in their handlers.
  char dir_template[] = "/tmp/purgeq_listener_test_XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  Config::Listen listen;
  listen.socket = dir + "/purgeq.sock";
  std::atomic<int> waiting{0};
  {
    auto io = std::make_unique<asio::io_context>(1);
    auto handler = [&io, &waiting](const HttpRequestMessage&,
                                   const Peer&) -> asio::awaitable<HttpResponseMessage> {
      ++waiting;
      asio::steady_timer timer(*io, 1h);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return HttpResponseMessage{http::status::ok, 11};
    };
    auto listener = std::make_unique<UnixListener>(*io, handler, listen, std::nullopt);
    listener->start();
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 5; ++i) {
      clients.push_back(std::make_unique<Client>(listen.socket));
      ASSERT_TRUE(clients.back()->get("/v1/intents/x?wait=3600"));
    }
    const auto deadline = Clock::now() + 2s;
    while (waiting < 5 && Clock::now() < deadline) io->run_for(10ms);
    ASSERT_EQ(waiting, 5);
    io->stop();
    listener.reset();
    io.reset();  // destroys the suspended sessions
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace purgeq
