// End-to-end tests of purgeq's command execution against a fake purgeqd on a temporary Unix socket.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "cli/cli_args.h"
#include "cli/cli_commands.h"
#include "cli/socket_client.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

struct Recorded {
  std::string method;
  std::string target;
  std::string head;  // request line and headers
  std::string body;
};

struct Canned {
  unsigned status = 200;
  std::string body;
  bool drop = false;  // close the connection without answering
};

// A minimal HTTP/1.1 server: one request per connection, answered by `handler`. Plain POSIX
// sockets on purpose, so the test proves the client against something other than Beast.
class FakeDaemon {
 public:
  // `read_bodies` false: answer as soon as the headers are in, leaving the body unread (as
  // purgeqd does for a body over its limit).
  // `at`: listen on this path (its directory is the caller's), as a restarted daemon would.
  explicit FakeDaemon(std::function<Canned(const Recorded&)> handler, bool read_bodies = true,
                      std::string at = {})
      : handler_(std::move(handler)), read_bodies_(read_bodies) {
    if (at.empty()) {
      char dir_template[] = "/tmp/purgeq_cli_test_XXXXXX";
      dir_ = ::mkdtemp(dir_template);
      path_ = dir_ + "/purgeq.sock";
    } else {
      path_ = std::move(at);
    }
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on " << path_ << ": " << std::strerror(errno);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    if (dir_.empty()) {
      std::filesystem::remove(path_);
    } else {
      std::filesystem::remove_all(dir_);
    }
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  const std::string& path() const { return path_; }
  std::vector<Recorded> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      handle(conn);
      ::close(conn);
    }
  }

  void handle(int conn) {
    std::string data;
    char buf[65536];
    std::size_t header_end = std::string::npos;
    std::size_t content_length = 0;
    for (;;) {
      if (header_end != std::string::npos &&
          (!read_bodies_ || data.size() >= header_end + 4 + content_length)) {
        break;
      }
      const auto n = ::read(conn, buf, sizeof(buf));
      if (n <= 0) return;
      data.append(buf, static_cast<std::size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower_head = data.substr(0, header_end);
          for (auto& c : lower_head)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          const auto at = lower_head.find("content-length:");
          if (at != std::string::npos) content_length = std::stoul(lower_head.substr(at + 15));
        }
      }
    }
    Recorded request;
    request.head = data.substr(0, header_end);
    request.body = data.substr(std::min(data.size(), header_end + 4), content_length);
    std::istringstream line(request.head);
    line >> request.method >> request.target;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    const auto canned = handler_(request);
    if (canned.drop) return;
    const auto answer = "HTTP/1.1 " + std::to_string(canned.status) +
                        " X\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(canned.body.size()) + "\r\nConnection: close\r\n\r\n" +
                        canned.body;
    // MSG_NOSIGNAL: a client that gave up must not kill the test binary with SIGPIPE.
    [[maybe_unused]] const auto sent = ::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL);
  }

  std::function<Canned(const Recorded&)> handler_;
  bool read_bodies_ = true;
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Recorded> requests_;
};

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Parses `args` as purgeq would (with `--socket`), then executes the request for real.
Run run_cli(const std::string& socket, std::vector<std::string> args,
            const std::string& stdin_text = {}, bool terminal = false) {
  if (!socket.empty()) args.insert(args.begin(), {"--socket", socket});
  args.insert(args.begin(), "purgeq");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::istringstream in(stdin_text);
  ParseContext context;
  context.stdin_stream = &in;
  context.stderr_is_terminal = terminal;
  // Only the discovery test runs without --socket; nothing exists for it.
  context.socket_exists = [](const std::string&) { return false; };
  const auto parsed = parse_args(static_cast<int>(argv.size()), argv.data(), context);
  Run run;
  if (!parsed.request) {
    run.exit_code = parsed.exit_code;
    run.err = parsed.err;
    return run;
  }
  std::ostringstream out;
  std::ostringstream err;
  run.exit_code = execute(*parsed.request, out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

constexpr std::string_view kAccepted = R"({"id":"01HVABC","status":"queued","items":2})";

std::string intent_body(std::string_view status, int done, int failed, int pending,
                        std::string_view errors = "[]") {
  return fmt::format(
      R"({{"id":"01HVABC","status":"{}","created_at":"2026-11-25T10:02:11Z",)"
      R"("items":{{"total":{},"queued":{},"in_flight":0,"done":{},"failed":{}}},"errors":{}}})",
      status, done + failed + pending, pending, done, failed, errors);
}

TEST(CliSocket, SubmitAccepted) {
  FakeDaemon daemon([](const Recorded&) { return Canned{202, std::string(kAccepted)}; });
  const auto run = run_cli(
      daemon.path(),
      {"url", "https://a.example/x", "-", "-H", "CF-Device-Type: mobile", "--zone", "a.example"},
      "https://a.example/y\r\n\r\n");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\n");
  EXPECT_EQ(run.err, "");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/purge");
  EXPECT_NE(requests[0].head.find("Host: localhost\r\n"), std::string::npos) << requests[0].head;
  EXPECT_NE(requests[0].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({"zone":"a.example","files":[
              {"url":"https://a.example/x","headers":{"CF-Device-Type":"mobile"}},
              {"url":"https://a.example/y","headers":{"CF-Device-Type":"mobile"}}]})"));
}

TEST(CliSocket, JsonPrintsTheAnswerOnOneLine) {
  FakeDaemon daemon([](const Recorded&) {
    return Canned{202, "{\n  \"id\": \"01HVABC\",\n  \"status\": \"queued\",\n  \"items\": 2\n}\n"};
  });
  const auto run = run_cli(daemon.path(), {"--json", "tag", "a", "b"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, std::string(kAccepted) + "\n");
}

TEST(CliSocket, RejectedIsUsageErrorWithTheDaemonsMessage) {
  const std::string rejection =
      R"({"error":{"code":"invalid_url","message":"files[0]: \"notaurl\" is not an absolute http(s) URL","item":"notaurl"}})";
  FakeDaemon daemon([&](const Recorded&) { return Canned{400, rejection}; });
  const auto run = run_cli(daemon.path(), {"url", "notaurl"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "purgeq: rejected: files[0]: \"notaurl\" is not an absolute http(s) URL\n");
  // --json still prints the daemon's body, for scripts that read the error's code.
  const auto json_run = run_cli(daemon.path(), {"--json", "url", "notaurl"});
  EXPECT_EQ(json_run.exit_code, 2);
  EXPECT_EQ(json::parse(json_run.out), json::parse(rejection));
  EXPECT_NE(json_run.err.find("rejected"), std::string::npos);
}

TEST(CliSocket, RefusedAndTooLargeAreUsageErrors) {
  FakeDaemon daemon([](const Recorded& r) {
    if (r.body.find("big") != std::string::npos) return Canned{413, "payload too large"};
    return Canned{403,
                  R"({"error":{"code":"access_denied","message":"uid 33 may not purge tags"}})"};
  });
  const auto refused = run_cli(daemon.path(), {"tag", "t"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.err, "purgeq: refused: uid 33 may not purge tags\n");
  const auto big = run_cli(daemon.path(), {"tag", "big"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_NE(big.err.find("HTTP 413"), std::string::npos) << big.err;
}

TEST(CliSocket, EarlyAnswerToAnOversizedBodyIsRead) {
  FakeDaemon daemon(
      [](const Recorded&) {
        return Canned{413, R"({"error":{"code":"too_large","message":"body over 8 MiB"}})"};
      },
      false);
  std::string piped;
  for (int i = 0; i < 200000; ++i) piped += fmt::format("https://a.example/{:060}\n", i);
  const auto run = run_cli(daemon.path(), {"url", "-"}, piped);
  // Either the 413 is read despite the unsent rest, or the connection reset wins the race; both
  // are reported, never a crash or a hang.
  EXPECT_TRUE(run.exit_code == 2 || run.exit_code == 3) << run.err;
  EXPECT_NE(run.err, "");
}

TEST(CliSocket, UnreachableSocket) {
  const auto run = run_cli("/nonexistent/purgeq.sock", {"status"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "purgeq: cannot reach purgeqd at /nonexistent/purgeq.sock: No such file or directory "
            "(is the daemon running? set --socket or PURGEQ_SOCKET)\n");
}

TEST(CliSocket, RefusedConnectionIsUnreachable) {
  // A socket file nobody listens on: ECONNREFUSED.
  char dir_template[] = "/tmp/purgeq_cli_test_XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string path = dir + "/dead.sock";
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  const auto run = run_cli(path, {"tag", "t"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("Connection refused"), std::string::npos) << run.err;
  std::filesystem::remove_all(dir);
}

TEST(CliSocket, DroppedConnectionAnd5xxAreUnreachable) {
  FakeDaemon daemon([](const Recorded& r) {
    if (r.target == "/v1/status") return Canned{200, "", true};
    if (r.target == "/v1/failed") return Canned{500, "oops"};
    return Canned{503, R"({"error":{"code":"storage_unavailable","message":"disk I/O error"}})"};
  });
  const auto dropped = run_cli(daemon.path(), {"status"});
  EXPECT_EQ(dropped.exit_code, 3);
  EXPECT_NE(dropped.err.find("closed the connection before answering"), std::string::npos)
      << dropped.err;
  const auto broken = run_cli(daemon.path(), {"failed"});
  EXPECT_EQ(broken.exit_code, 3);
  EXPECT_EQ(broken.err, "purgeq: purgeqd failed (HTTP 500)\n");
  const auto unavailable = run_cli(daemon.path(), {"host", "a.example"});
  EXPECT_EQ(unavailable.exit_code, 3);
  EXPECT_EQ(unavailable.err,
            "purgeq: purgeqd cannot take requests now: disk I/O error; try again\n");
}

TEST(CliSocket, NonJsonSuccessIsUnreachable) {
  FakeDaemon daemon([](const Recorded&) { return Canned{200, "<html>"}; });
  const auto run = run_cli(daemon.path(), {"status"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("unreadable answer"), std::string::npos) << run.err;
}

TEST(CliSocket, WaitLoopUntilDone) {
  std::atomic<int> polls{0};
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    // Two rounds in flight, then done.
    if (++polls < 3) return Canned{200, intent_body("in_flight", 1, 0, 1)};
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"--wait", "url", "https://a/x", "https://a/y"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\ndone: 2 purged\n");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (std::size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].method, "GET");
    EXPECT_EQ(requests[i].target, "/v1/intents/01HVABC?wait=30");  // unbounded: 30 s per poll
  }
}

TEST(CliSocket, WaitWithJsonPrintsOnlyTheFinalIntent) {
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"--json", "--wait=60", "tag", "a", "b"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(json::parse(run.out), json::parse(intent_body("done", 2, 0, 0)));
  EXPECT_EQ(run.out.find('\n'), run.out.size() - 1);
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/v1/intents/01HVABC?wait=30");  // min(60 remaining, 30)
}

TEST(CliSocket, WaitPartialExitsOne) {
  const std::string errors =
      R"([{"kind":"file","item":"https://a/y","code":1015,"message":"Unable to purge"}])";
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    return Canned{200, intent_body("partial", 1, 1, 0, errors)};
  });
  const auto run = run_cli(daemon.path(), {"url", "https://a/x", "https://a/y", "--wait=10"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.out,
            "queued 2 items as intent 01HVABC\n"
            "partial: 1 purged, 1 failed\n"
            "  failed file https://a/y : 1015 Unable to purge\n");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/v1/intents/01HVABC?wait=10");
}

TEST(CliSocket, WaitTimesOut) {
  FakeDaemon daemon([&](const Recorded&) {
    // Answers at once, as a daemon that is shutting down would: the client must not spin.
    return Canned{200, intent_body("in_flight", 1, 0, 1)};
  });
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_cli(daemon.path(), {"wait", "01HVABC", "--timeout", "1"});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "purgeq: timed out waiting for intent 01HVABC: still in_flight (1 purged, 0 failed, "
            "1 pending)\n");
  EXPECT_GE(elapsed, std::chrono::seconds(1));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  const auto requests = daemon.requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_LE(requests.size(), 5u);  // paced, not a busy loop
  EXPECT_EQ(requests[0].target, "/v1/intents/01HVABC?wait=1");
}

TEST(CliSocket, WaitZeroChecksOnce) {
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    return Canned{200, intent_body("queued", 0, 0, 2)};
  });
  const auto run = run_cli(daemon.path(), {"--wait=0", "tag", "a", "b"});
  EXPECT_EQ(run.exit_code, 4);
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/v1/intents/01HVABC?wait=0");
}

TEST(CliSocket, ShowIntent) {
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.target == "/v1/intents/01HVABC") return Canned{200, intent_body("done", 2, 0, 0)};
    return Canned{
        404,
        R"({"error":{"code":"unknown_intent","message":"no intent with id \"nope\"","item":"nope"}})"};
  });
  const auto shown = run_cli(daemon.path(), {"show", "01HVABC"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out,
            "intent 01HVABC: done (created 2026-11-25T10:02:11Z)\n"
            "  2 items: 0 queued, 0 in flight, 2 purged, 0 failed\n");
  const auto unknown = run_cli(daemon.path(), {"show", "nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err, "purgeq: no intent with id \"nope\"\n");
  const auto waited = run_cli(daemon.path(), {"wait", "nope"});
  EXPECT_EQ(waited.exit_code, 2);
}

TEST(CliSocket, StatusFailedAndRetry) {
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.target == "/v1/status") {
      return Canned{200, R"({"version":"0.1.0","uptime_seconds":5,"pending":0,"queue":{}})"};
    }
    if (r.target == "/v1/failed") {
      return Canned{200, R"({"items":[{"id":1,"zone":"a.example","kind":"tag","item":"t",
                              "code":1100,"message":"too long","failed_at":"2026-11-25T10:00:00Z"}]})"};
    }
    return Canned{200, R"({"requeued":1})"};
  });
  const auto status = run_cli(daemon.path(), {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out, "purgeqd 0.1.0, up 5s\nqueue: 0 pending\n");
  const auto status_json = run_cli(daemon.path(), {"status", "--json"});
  EXPECT_EQ(status_json.out, R"({"version":"0.1.0","uptime_seconds":5,"pending":0,"queue":{}})"
                             "\n");
  const auto failed = run_cli(daemon.path(), {"failed"});
  EXPECT_EQ(failed.exit_code, 0);  // listing failures is not itself a failure
  EXPECT_EQ(failed.out,
            "2026-11-25T10:00:00Z  a.example  tag  t : 1100 too long\n"
            "1 failed item (purgeq retry-failed requeues them)\n");
  const auto retry = run_cli(daemon.path(), {"retry-failed"});
  EXPECT_EQ(retry.exit_code, 0);
  EXPECT_EQ(retry.out, "requeued 1 failed item\n");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[3].method, "POST");
  EXPECT_EQ(requests[3].target, "/v1/failed/retry");
}

TEST(CliSocket, ManyItemsFromStdinInOnePost) {
  FakeDaemon daemon([](const Recorded& r) {
    const auto body = json::parse(r.body);
    return Canned{202, fmt::format(R"({{"id":"big","status":"queued","items":{}}})",
                                   body.at("files").as_array().size())};
  });
  std::string piped;
  for (int i = 0; i < 20000; ++i) piped += fmt::format("https://a.example/p/{}\n", i);
  const auto run = run_cli(daemon.path(), {"url", "-"}, piped);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 20000 items as intent big\n");
  EXPECT_EQ(daemon.requests().size(), 1u);
}

TEST(CliSocket, SilentDaemonTimesOut) {
  FakeDaemon daemon([](const Recorded&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return Canned{200, "{}"};
  });
  const auto timeout = std::chrono::seconds(1);
  const auto answer = http_request(daemon.path(), Method::get, "/v1/status", {}, timeout);
  EXPECT_EQ(answer.failure, Failure::receive);
  EXPECT_EQ(describe_failure(daemon.path(), answer, timeout),
            "no answer from purgeqd at " + daemon.path() + " within 1s");
}

// A temporary directory for a socket path that outlives one FakeDaemon.
struct TempDir {
  TempDir() {
    char dir_template[] = "/tmp/purgeq_cli_test_XXXXXX";
    path = ::mkdtemp(dir_template);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

TEST(CliSocket, WaitSurvivesADaemonRestart) {
  TempDir dir;
  const auto path = dir.path + "/purgeq.sock";
  std::atomic<int> polls{0};
  auto first = std::make_unique<FakeDaemon>(
      [&](const Recorded& r) {
        if (r.method == "POST") return Canned{202, std::string(kAccepted)};
        ++polls;
        // Stops mid-answer, as purgeqd does when it is killed during a long poll.
        return Canned{200, "", true};
      },
      true, path);
  std::unique_ptr<FakeDaemon> second;
  std::thread restart([&] {
    while (polls == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    first.reset();  // the socket is gone: connections fail until the new daemon listens
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    second = std::make_unique<FakeDaemon>(
        [](const Recorded&) {
          return Canned{200, intent_body("done", 2, 0, 0)};
        },
        true, path);
  });
  const auto run = run_cli(path, {"--wait=20", "url", "https://a/x", "https://a/y"});
  restart.join();
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\ndone: 2 purged\n");
  EXPECT_EQ(run.err, "");  // piped: quiet about the reconnects
  ASSERT_TRUE(second);
  const auto requests = second->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].target.rfind("/v1/intents/01HVABC?wait=", 0), 0u) << requests[0].target;
}

TEST(CliSocket, WaitRidesOut5xxAfterAcceptance) {
  std::atomic<int> polls{0};
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    if (++polls < 3) {
      return Canned{503,
                    R"({"error":{"code":"shutting_down","message":"purgeqd is shutting down"}})"};
    }
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"--wait", "tag", "a", "b"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\ndone: 2 purged\n");
  EXPECT_EQ(polls, 3);
}

TEST(CliSocket, WaitTimesOutWhileTheDaemonIsGoneWithFour) {
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    return Canned{200, "", true};
  });
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_cli(daemon.path(), {"--wait=2", "tag", "a", "b"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\n");
  EXPECT_EQ(run.err.rfind("purgeq: timed out waiting for intent 01HVABC: purgeqd has not answered "
                          "for ",
                          0),
            0u)
      << run.err;
  EXPECT_NE(run.err.find("closed the connection"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("the intent stays queued: purgeq show 01HVABC"), std::string::npos);
}

TEST(CliSocket, WaitCommandWithoutADaemonIsUnreachable) {
  // `wait ID` never had an answer: the daemon may not exist at all, so no retrying.
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_cli("/nonexistent/purgeq.sock", {"wait", "01HVABC"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("cannot reach purgeqd at /nonexistent/purgeq.sock"), std::string::npos);
}

TEST(CliSocket, WaitCommandReconnectsOnceItHasAnAnswer) {
  std::atomic<int> polls{0};
  FakeDaemon daemon([&](const Recorded&) {
    const int n = ++polls;
    if (n == 1) return Canned{200, intent_body("queued", 0, 0, 2)};
    if (n == 2) return Canned{200, "", true};
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"wait", "01HVABC", "--timeout", "20"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "done: 2 purged\n");
  EXPECT_EQ(polls, 3);
}

TEST(CliSocket, WaitTimeoutSaysWhyAndExitsFour) {
  const std::string waiting = R"("waiting_for":[{"zone":"a.example","account":"main",
      "state":"paused","reason":"auth_error 10000: Authentication error",
      "since":"2026-11-27T10:02:11Z","since_s":180,
      "resume":"fix the account's token, then: systemctl reload purgeq"}])";
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    auto body = intent_body("queued", 0, 0, 1);
    body.insert(body.size() - 1, "," + waiting);
    return Canned{200, body};
  });
  const auto run = run_cli(daemon.path(), {"--wait=1", "url", "https://a.example/x"});
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_EQ(run.err,
            "purgeq: timed out waiting for intent 01HVABC: still queued (0 purged, 0 failed, 1 "
            "pending)\n"
            "  waiting: account main is paused since 10:02:11Z (3 min): auth_error 10000: "
            "Authentication error; to resume: fix the account's token, then: systemctl reload "
            "purgeq\n");
  const auto shown = run_cli(daemon.path(), {"show", "01HVABC"});
  EXPECT_EQ(shown.exit_code, 0);
  EXPECT_NE(shown.out.find("  waiting: account main is paused since"), std::string::npos)
      << shown.out;
}

TEST(CliSocket, ProgressOnATerminal) {
  std::atomic<int> polls{0};
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    if (++polls < 3) {
      return Canned{200, intent_body("in_flight", 1, 0, 1)};
    }
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"--wait", "url", "https://a/x"}, {}, true);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2 items as intent 01HVABC\ndone: 2 purged\n");
  // Overwritten in place, and wiped before the result is printed.
  EXPECT_EQ(run.err.rfind("\r", 0), 0u);
  EXPECT_NE(run.err.find("waiting 0 s: 1 purged, 1 pending\x1b[K"), std::string::npos) << run.err;
  EXPECT_TRUE(run.err.ends_with("\r\x1b[K")) << run.err;
  EXPECT_EQ(run.err.find('\n'), std::string::npos);
  // Short polls keep the line moving.
  for (const auto& request : daemon.requests()) {
    if (request.method == "GET") {
      EXPECT_EQ(request.target, "/v1/intents/01HVABC?wait=2");
    }
  }
}

TEST(CliSocket, ReconnectingIsShownOnATerminal) {
  std::atomic<int> polls{0};
  FakeDaemon daemon([&](const Recorded& r) {
    if (r.method == "POST") return Canned{202, std::string(kAccepted)};
    if (++polls == 1) return Canned{503, R"({"error":{"code":"shutting_down"}})"};
    return Canned{200, intent_body("done", 2, 0, 0)};
  });
  const auto run = run_cli(daemon.path(), {"--wait", "tag", "a", "b"}, {}, true);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("purgeqd unreachable (HTTP 503); retry in 1 s\x1b[K"), std::string::npos)
      << run.err;
  EXPECT_TRUE(run.err.ends_with("\r\x1b[K")) << run.err;
}

TEST(CliSocket, NoSocketFoundNamesThePathsTried) {
  if (std::filesystem::exists(kDefaultSocket) || std::filesystem::exists(kDevSocket)) {
    GTEST_SKIP() << "a purgeqd socket exists on this machine";
  }
  const auto run = run_cli("", {"status"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.err,
            "purgeq: cannot reach purgeqd: no socket at /run/purgeq/purgeq.sock nor at "
            "./run/purgeq.sock (the installed daemon's, then the development daemon's, relative "
            "to the current directory); start purgeqd, or point purgeq at its socket with "
            "--socket PATH or PURGEQ_SOCKET=PATH\n");
}

TEST(CliSocket, JsonPrintsNumbersAsPeopleWriteThem) {
  FakeDaemon daemon([](const Recorded&) {
    return Canned{200, R"({"accounts":{"main":{"flex_tokens":8e2,"url_tokens":799.5}}})"};
  });
  const auto run = run_cli(daemon.path(), {"status", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, R"({"accounts":{"main":{"flex_tokens":800,"url_tokens":799.5}}})"
                     "\n");
}

TEST(CliSocket, PriorityGoesInTheBodyAndANonDefaultLaneIsShown) {
  FakeDaemon daemon([](const Recorded&) {
    return Canned{202, R"({"id":"01HVABC","status":"queued","items":1,"priority":"high"})"};
  });
  const auto run = run_cli(daemon.path(), {"--priority", "high", "tag", "a"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 1 item as intent 01HVABC (priority high)\n");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({"priority":"high","tags":["a"]})"));
}

}  // namespace
}  // namespace purgeq::cli

namespace purgeq::cli {
namespace {

// A purgeqd that accepts at most `max_items` items and `max_body` bytes per intent, answering
// 413 as the real one does above them, and remembers each intent it accepted.
class LimitedDaemon {
 public:
  LimitedDaemon(std::size_t max_items, std::size_t max_body, bool name_limit)
      : daemon_([this, max_items, max_body, name_limit](const Recorded& r) {
          if (r.method == "GET") {
            const auto id =
                r.target.substr(std::string_view("/v1/intents/").size(), r.target.find('?') - 12);
            std::lock_guard lock(mutex_);
            const auto n = items_.at(id);
            return Canned{200, fmt::format(R"({{"id":"{}","status":"done","items":)"
                                           R"({{"total":{},"queued":0,"in_flight":0,)"
                                           R"("done":{},"failed":0}},"errors":[]}})",
                                           id, n, n)};
          }
          if (r.body.size() > max_body) {
            return Canned{413, fmt::format(R"({{"error":{{"code":"body_too_large","message":)"
                                           R"("request body exceeds {} bytes"}}}})",
                                           max_body)};
          }
          const auto body = json::parse(r.body);
          const auto n = body.at("files").as_array().size();
          if (n > max_items) {
            return Canned{
                413, fmt::format(R"({{"error":{{"code":"too_many_items","message":"the intent )"
                                 R"(has {} items and intake.max_items_per_intent is {}"{}}}}})",
                                 n, max_items,
                                 name_limit ? fmt::format(R"(,"limit":{})", max_items) : "")};
          }
          std::lock_guard lock(mutex_);
          const auto id = fmt::format("i{}", items_.size() + 1);
          items_[id] = n;
          order_.push_back(body);
          return Canned{202, fmt::format(R"({{"id":"{}","status":"queued","items":{}}})", id, n)};
        }) {}

  const std::string& path() const { return daemon_.path(); }
  std::vector<json::value> accepted() const {
    std::lock_guard lock(mutex_);
    return order_;
  }
  std::vector<Recorded> requests() const { return daemon_.requests(); }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> items_;
  std::vector<json::value> order_;
  FakeDaemon daemon_;
};

std::string url_lines(int count) {
  std::string out;
  for (int i = 1; i <= count; ++i) out += fmt::format("https://www.example.com/p/{}\n", i);
  return out;
}

// Every URL the daemon accepted, in order.
std::vector<std::string> accepted_urls(const LimitedDaemon& daemon) {
  std::vector<std::string> urls;
  for (const auto& body : daemon.accepted()) {
    for (const auto& url : body.at("files").as_array()) urls.emplace_back(url.as_string());
  }
  return urls;
}

TEST(CliSocketLongLists, CutUnderTheDaemonsItemLimitAndReportedAsOne) {
  LimitedDaemon daemon(1000, std::size_t{64} << 20, true);
  const auto run = run_cli(daemon.path(), {"url", "-"}, url_lines(2500));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "queued 2500 items as 3 intents: i1, i2, i3\n");
  EXPECT_EQ(run.err, "");
  const auto urls = accepted_urls(daemon);
  ASSERT_EQ(urls.size(), 2500u);
  EXPECT_EQ(urls.front(), "https://www.example.com/p/1");
  EXPECT_EQ(urls.back(), "https://www.example.com/p/2500");
  // One refusal, then only intents within the limit it named.
  EXPECT_EQ(daemon.requests().size(), 4u);
}

TEST(CliSocketLongLists, CutUnderABodyLimitAndWaitedForAll) {
  // No limit named: purgeq halves until the daemon takes them.
  LimitedDaemon daemon(250'000, 20'000, false);
  const auto run = run_cli(daemon.path(), {"--wait", "url", "-"}, url_lines(2000));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const auto accepted = daemon.accepted();
  ASSERT_GT(accepted.size(), 3u);
  EXPECT_EQ(accepted_urls(daemon).size(), 2000u);
  EXPECT_TRUE(
      run.out.starts_with(fmt::format("queued 2000 items as {} intents: i1, i2,", accepted.size())))
      << run.out;
  EXPECT_TRUE(run.out.ends_with("\ndone: 2000 purged\n")) << run.out;
  // Every intent was asked after.
  std::size_t polls = 0;
  for (const auto& r : daemon.requests()) polls += r.method == "GET" ? 1 : 0;
  EXPECT_EQ(polls, accepted.size());
}

TEST(CliSocketLongLists, JsonPrintsOneDocumentForAllIntents) {
  LimitedDaemon daemon(10, std::size_t{64} << 20, true);
  const auto run = run_cli(daemon.path(), {"--json", "url", "-"}, url_lines(25));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const auto doc = json::parse(run.out);
  EXPECT_EQ(doc.at("items").as_int64(), 25);
  EXPECT_EQ(doc.at("intents").as_array().size(), 3u);
}

TEST(CliSocketLongLists, ARefusalAfterSomeIntentsSaysWhatStaysQueued) {
  // The third intent holds a URL the daemon refuses.
  FakeDaemon daemon([n = std::make_shared<int>(0)](const Recorded& r) {
    const auto body = json::parse(r.body);
    const auto& files = body.at("files").as_array();
    if (files.size() > 10) {
      return Canned{413, R"({"error":{"code":"too_many_items","message":"too many","limit":10}})"};
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (files[i].as_string() == "ftp://bad") {
        return Canned{400, fmt::format(R"({{"error":{{"code":"invalid_url","message":)"
                                       R"("files[{}]: \"ftp://bad\" is not an absolute http(s) )"
                                       R"(URL","item":"ftp://bad"}}}})",
                                       i)};
      }
    }
    ++*n;
    return Canned{202,
                  fmt::format(R"({{"id":"i{}","status":"queued","items":{}}})", *n, files.size())};
  });
  auto input = url_lines(25);
  input += "ftp://bad\n";
  const auto run = run_cli(daemon.path(), {"url", "-"}, input);
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "purgeq: rejected: files[5]: \"ftp://bad\" is not an absolute http(s) URL (in the "
            "intent of items 21 to 26 of the input)\n"
            "purgeq: the 20 items before them were queued as 2 intents and stay queued: i1, i2\n");
}

TEST(CliSocketLongLists, BlankStdinQueuesNothing) {
  FakeDaemon daemon([](const Recorded&) { return Canned{202, std::string(kAccepted)}; });
  const auto run = run_cli(daemon.path(), {"url", "-"}, "\n  \r\n");
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err, "purgeq: url: no items to purge (stdin had only blank lines)\n");
  EXPECT_TRUE(daemon.requests().empty());
}

TEST(CliSocketLongLists, SingleItemTooLargeShowsTheDaemonsReason) {
  FakeDaemon daemon([](const Recorded&) {
    return Canned{413, R"json({"error":{"code":"body_too_large",
        "message":"request body exceeds 8388608 bytes (the request body cap)"}})json"};
  });
  const auto run = run_cli(daemon.path(), {"url", "https://a.example/x"});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err,
            "purgeq: rejected (HTTP 413): request body exceeds 8388608 bytes (the request body "
            "cap)\n");
}

TEST(CliSocket, EncodedItemsAreShownInTheReceipt) {
  FakeDaemon daemon([](const Recorded&) {
    return Canned{202, R"({"id":"01HVABC","status":"queued","items":2})"};
  });
  const auto run =
      run_cli(daemon.path(), {"url", "https://bücher.example/ä", "https://a.example/"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "queued 2 items as intent 01HVABC\n"
            "  https://bücher.example/ä sent as https://xn--bcher-kva.example/%C3%A4\n");
  const auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(
      json::parse(requests[0].body),
      json::parse(R"({"files":["https://xn--bcher-kva.example/%C3%A4","https://a.example/"]})"));
}

TEST(CliSocket, EverythingAsksAboutTheZoneTheDaemonWouldPurge) {
  FakeDaemon daemon([](const Recorded& r) {
    EXPECT_EQ(r.target, "/v1/expand");
    EXPECT_EQ(json::parse(r.body), json::parse(R"({"purge_everything":true})"));
    return Canned{200, R"({"items":[{"zone":"example.com","kind":"everything","value":""}],)"
                       R"("count":1,"variants":{"urls":0,"items":0}})"};
  });
  CliRequest request;
  request.command = Command::everything;
  request.socket = daemon.path();
  std::ostringstream out;
  std::ostringstream err;
  const auto zone = everything_zone(request, out, err);
  ASSERT_TRUE(std::holds_alternative<std::string>(zone)) << err.str();
  EXPECT_EQ(std::get<std::string>(zone), "example.com");
  std::istringstream no("n\n");
  EXPECT_FALSE(confirm_everything(std::get<std::string>(zone), no, err));
  EXPECT_EQ(err.str(), "Purge EVERYTHING cached for zone example.com? [y/N] ");

  // Several zones and no --zone: the daemon's own refusal, before any question.
  FakeDaemon several([](const Recorded&) {
    return Canned{
        400,
        R"({"error":{"code":"zone_required","message":"purge_everything needs a zone: several zones are configured"}})"};
  });
  request.socket = several.path();
  std::ostringstream err2;
  const auto refused = everything_zone(request, out, err2);
  ASSERT_TRUE(std::holds_alternative<int>(refused));
  EXPECT_EQ(std::get<int>(refused), kExitUsage);
  EXPECT_EQ(err2.str(),
            "purgeq: rejected: purge_everything needs a zone: several zones are configured\n");
}

}  // namespace
}  // namespace purgeq::cli
