// A command hook's process: exit codes, stdin fed in chunks, bounded output, a fixed
// environment, and a hanging hook (and what it started) killed at its deadline.
#include "hooks/hook_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace purgeq {
namespace {

class HookProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }  // as purgeqd does

  ProcessResult run(ProcessSpec spec, StdinFeed feed = nullptr) {
    boost::asio::io_context io;
    std::optional<ProcessResult> result;
    auto process = HookProcess::start(io, std::move(spec), std::move(feed),
                                      [&](ProcessResult r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "never completes inside start()";
    io.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(result.has_value()) << "no completion";
    return result.value_or(ProcessResult{});
  }
  static ProcessSpec shell(const std::string& script) {
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", script, "hook"};
    spec.env = {"PATH=/usr/bin:/bin", "PURGEQ_HOOK=test"};
    spec.timeout = std::chrono::seconds(10);
    return spec;
  }
};

TEST_F(HookProcessTest, ExitStatusDecidesSuccess) {
  auto ok = run(shell("echo hello; echo oops >&2"));
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.output, "hello\noops\n");
  auto failed = run(shell("exit 3"));
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error, "exit status 3");
  auto killed = run(shell("kill -9 $$"));
  EXPECT_EQ(killed.error, "killed by signal 9");
}

TEST_F(HookProcessTest, AProgramThatCannotRunIsAnError) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/hook"};
  const auto result = run(spec);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "cannot run /nonexistent/hook: No such file or directory");
}

TEST_F(HookProcessTest, StdinIsFedChunkByChunkAndTheEnvironmentIsOnlyWhatWasGiven) {
  ::setenv("PURGEQ_TEST_SECRET", "token", 1);
  int chunks = 0;
  StdinFeed feed = [&](auto give) {
    if (chunks == 3) return give(std::nullopt);
    ++chunks;
    give(std::string("{\"n\":") + std::to_string(chunks) + "}\n");
  };
  const auto result =
      run(shell("wc -l | tr -d ' '; echo \"$PURGEQ_HOOK/${PURGEQ_TEST_SECRET:-none}\""), feed);
  ::unsetenv("PURGEQ_TEST_SECRET");
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.output, "3\ntest/none\n");
}

TEST_F(HookProcessTest, AHookThatIgnoresStdinStillCompletes) {
  StdinFeed endless = [](auto give) { give(std::string(65536, 'x')); };
  const auto result = run(shell("exit 0"), endless);
  EXPECT_TRUE(result.ok) << result.error;
}

TEST_F(HookProcessTest, OutputIsKeptUpToTheBound) {
  auto spec = shell("head -c 100000 /dev/zero | tr '\\0' a");
  spec.max_output = 10;
  const auto result = run(spec);
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.output, "aaaaaaaaaa");
  EXPECT_TRUE(result.output_truncated);
}

TEST_F(HookProcessTest, AHangingHookAndItsChildrenAreKilledAtTheDeadline) {
  const std::string marker = ::testing::TempDir() + "hook_child_" + std::to_string(::getpid());
  // The child ignores SIGTERM, so only the SIGKILL after the grace period ends it; its
  // background grandchild would write the marker if it survived.
  auto spec = shell("(sleep 2; echo alive > " + marker + ") & trap '' TERM; sleep 30");
  spec.timeout = std::chrono::milliseconds(300);
  spec.kill_grace = std::chrono::milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  const auto result = run(spec);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "timed out after 300ms (killed)");
  EXPECT_LT(took, std::chrono::seconds(2));
  ::sleep(3);
  EXPECT_FALSE(std::ifstream(marker).good()) << "the grandchild survived the deadline";
  std::remove(marker.c_str());
}

TEST_F(HookProcessTest, KillAllEndsTheRunWithoutCompleting) {
  boost::asio::io_context io;
  bool completed = false;
  auto process =
      HookProcess::start(io, shell("sleep 30"), nullptr, [&](ProcessResult) { completed = true; });
  io.run_for(std::chrono::milliseconds(100));
  process->kill_all();
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(completed);
}

}  // namespace
}  // namespace purgeq
