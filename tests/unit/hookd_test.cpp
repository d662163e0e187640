// purgeqd's side of purgeq-hookd (hooks/hookd_client.h) against the real purgeq-hookd binary,
// started by each test on a socket of its own: a spec and stdin round trip, a peer of the wrong
// uid refused (and nothing run), a hook killed at its deadline through the helper, bounded
// output, the hook's group killed when purgeqd goes away, protocol errors, and a helper that is
// not there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hooks/hookd_client.h"
#include "hooks/hookd_wire.h"

extern char** environ;

namespace purgeq {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

class HookdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);  // as purgeqd does
    std::string pattern = ::testing::TempDir() + "purgeq_hookd_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    socket_ = dir_ + "/hooks.sock";
  }
  void TearDown() override {
    stop_helper();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // purgeq-hookd serving `allowed_uid` (this process's uid unless told otherwise).
  void start_helper(std::optional<uid_t> allowed_uid = std::nullopt) {
    const std::string log = dir_ + "/hookd.log";
    std::vector<std::string> args = {PURGEQ_HOOKD_BINARY, "--socket", socket_, "--allow-user",
                                     std::to_string(allowed_uid.value_or(::getuid()))};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    ASSERT_EQ(::posix_spawn(&helper_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    // Ready once it logged that it listens (the socket file alone may be a stale one).
    for (int i = 0; i < 200 && helper_log().find("hookd_listening") == std::string::npos; ++i) {
      std::this_thread::sleep_for(25ms);
    }
    ASSERT_NE(helper_log().find("hookd_listening"), std::string::npos) << helper_log();
  }
  void stop_helper() {
    if (helper_ <= 0) return;
    ::kill(helper_, SIGTERM);
    int status = 0;
    ::waitpid(helper_, &status, 0);
    helper_ = -1;
  }
  std::string helper_log() const { return read_file(dir_ + "/hookd.log"); }

  ProcessSpec shell(const std::string& script) const {
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", script, "hook"};
    spec.env = {"PATH=/usr/bin:/bin", "PURGEQ_HOOK=test"};
    spec.timeout = 10s;
    return spec;
  }

  ProcessResult run(ProcessSpec spec, StdinFeed feed = nullptr) {
    boost::asio::io_context io;
    std::optional<ProcessResult> result;
    auto process = start_hook_via_hookd(io, socket_, std::move(spec), std::move(feed),
                                        [&](ProcessResult r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "never completes inside start()";
    io.run_for(20s);
    EXPECT_TRUE(result.has_value()) << "no completion; helper log:\n" << helper_log();
    return result.value_or(ProcessResult{});
  }

  // Raw frames to the helper and whatever it answers until it closes.
  std::string raw_exchange(const std::string& bytes) const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socket_.copy(address.sun_path, sizeof(address.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string answer;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, n);
    ::close(fd);
    return answer;
  }

  std::string dir_;
  std::string socket_;
  pid_t helper_ = -1;
};

TEST_F(HookdTest, ASpecAndItsStdinRoundTripThroughTheHelper) {
  start_helper();
  // Two feed chunks, the second larger than one frame may carry: it goes over in pieces.
  const std::string big(hookd::kMaxStdinPiece + 1000, 'x');
  int calls = 0;
  StdinFeed feed = [&](auto give) {
    ++calls;
    if (calls == 1) return give(std::string("{\"n\":1}\n"));
    if (calls == 2) return give(big + "\n");
    give(std::nullopt);
  };
  auto spec = shell(
      "printf '%s|' \"$@\"; echo; echo \"$PURGEQ_HOOK ${HOME:-nohome}\"; wc -c | tr -d ' '; "
      "exit 3");
  spec.argv.insert(spec.argv.end(), {"intent-1", "a.example,b.example", "done"});
  const auto result = run(spec, feed);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "exit status 3");
  // Exactly the spec's argv and environment (nothing of the helper's, such as HOME), and every
  // byte of stdin.
  EXPECT_EQ(result.output, "intent-1|a.example,b.example|done|\ntest nohome\n" +
                               std::to_string(8 + big.size() + 1) + "\n");
  EXPECT_FALSE(result.output_truncated);
  EXPECT_EQ(calls, 3);
}

TEST_F(HookdTest, APeerOfAnotherUidIsRefusedAndNothingRuns) {
  const uid_t other = ::getuid() == 65534 ? 65533 : 65534;
  start_helper(other);
  const std::string marker = dir_ + "/ran";
  const auto result = run(shell("touch " + marker));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "purgeq-hookd runs hooks for uid " + std::to_string(other) +
                              " only, not for uid " + std::to_string(::getuid()));
  EXPECT_FALSE(exists(marker)) << "the hook ran for a refused peer";
  const auto log = helper_log();
  EXPECT_NE(log.find("event=hookd_peer_refused uid=" + std::to_string(::getuid()) + " pid=" +
                     std::to_string(::getpid()) + " allowed_uid=" + std::to_string(other)),
            std::string::npos)
      << log;
}

TEST_F(HookdTest, AHangingHookAndItsChildrenAreKilledAtTheDeadlineThroughTheHelper) {
  start_helper();
  const std::string marker = dir_ + "/grandchild";
  auto spec = shell("(sleep 2; echo alive > " + marker + ") & trap '' TERM; sleep 30");
  spec.timeout = 300ms;
  spec.kill_grace = 200ms;
  const auto started = std::chrono::steady_clock::now();
  const auto result = run(spec);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "timed out after 300ms (killed)");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(exists(marker)) << "the grandchild survived the deadline";
}

TEST_F(HookdTest, OutputIsBoundedByTheSpec) {
  start_helper();
  auto spec = shell("head -c 100000 /dev/zero | tr '\\0' a");
  spec.max_output = 10;
  const auto result = run(spec);
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.output, "aaaaaaaaaa");
  EXPECT_TRUE(result.output_truncated);
}

TEST_F(HookdTest, WhenPurgeqdGoesAwayTheHooksGroupIsKilled) {
  start_helper();
  const std::string pids = dir_ + "/pids";
  boost::asio::io_context io;
  bool completed = false;
  auto process =
      start_hook_via_hookd(io, socket_, shell("sleep 30 & echo $$ $! > " + pids + "; wait"),
                           nullptr, [&](ProcessResult) { completed = true; });
  for (int i = 0; i < 200 && read_file(pids).empty(); ++i) io.run_for(25ms);
  std::istringstream text(read_file(pids));
  pid_t shell_pid = 0;
  pid_t sleep_pid = 0;
  ASSERT_TRUE(text >> shell_pid >> sleep_pid) << helper_log();
  process->kill_all();
  io.run_for(100ms);
  EXPECT_FALSE(completed);
  // The helper reaps its child; the background sleep, reparented, is gone once killed.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::kill(shell_pid, 0) != 0 && ::kill(sleep_pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the hook outlived its connection";
  EXPECT_NE(helper_log().find("event=hookd_run_abandoned"), std::string::npos) << helper_log();
}

TEST_F(HookdTest, ProtocolErrorsAreAnsweredAndLogged) {
  start_helper();
  std::string error;
  // stdin before any spec.
  auto answer = raw_exchange(hookd::frame(hookd::FrameType::stdin_piece, "x"));
  ASSERT_GE(answer.size(), hookd::kHeaderSize);
  EXPECT_EQ(answer[0], 'R');
  auto result = hookd::decode_result(answer.substr(hookd::kHeaderSize), error);
  ASSERT_TRUE(result) << error;
  EXPECT_EQ(result->error, "purgeq-hookd: protocol error: stdin that was not asked for");
  // A spec with a relative program.
  auto spec = shell("true");
  spec.argv.front() = "sh";
  answer = raw_exchange(hookd::frame(hookd::FrameType::spec, hookd::encode_spec(spec)));
  ASSERT_GE(answer.size(), hookd::kHeaderSize);
  result = hookd::decode_result(answer.substr(hookd::kHeaderSize), error);
  ASSERT_TRUE(result) << error;
  EXPECT_EQ(result->error,
            "purgeq-hookd: protocol error: bad spec: argv[0] must be the program by absolute "
            "path");
  // Garbage where a header should be.
  answer = raw_exchange("garbage");
  ASSERT_GE(answer.size(), hookd::kHeaderSize);
  result = hookd::decode_result(answer.substr(hookd::kHeaderSize), error);
  ASSERT_TRUE(result) << error;
  EXPECT_EQ(result->error, "purgeq-hookd: protocol error: unknown frame type 0x67");
  const auto log = helper_log();
  EXPECT_NE(log.find("error=\"stdin that was not asked for\""), std::string::npos) << log;
  EXPECT_NE(log.find("error=\"unknown frame type 0x67\""), std::string::npos) << log;
  // The helper still serves after all that.
  EXPECT_TRUE(run(shell("true")).ok);
}

TEST_F(HookdTest, AHelperThatIsNotThereFailsTheRun) {
  const auto result = run(shell("true"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error,
            "cannot reach purgeq-hookd at " + socket_ + ": No such file or directory");
}

}  // namespace
}  // namespace purgeq
