// The fallback for closing a hook's inherited descriptors where posix_spawn cannot (glibc before
// 2.34): both ways of marking every descriptor from N close-on-exec; and a hook started by
// HookProcess (with whichever way this glibc has) sees none of its parent's descriptors.
#include "hooks/cloexec.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "hooks/hook_process.h"

namespace purgeq {
namespace {

bool cloexec(int fd) {
  return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

// A pipe opened without O_CLOEXEC, as Asio opens its sockets.
struct InheritablePipe {
  int fds[2] = {-1, -1};
  InheritablePipe() {
    EXPECT_EQ(::pipe(fds), 0);
    EXPECT_FALSE(cloexec(fds[0]));
    EXPECT_FALSE(cloexec(fds[1]));
  }
  ~InheritablePipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

TEST(Cloexec, CloseRangeMarksEveryDescriptorFromTheFirst) {
  InheritablePipe pipe;
  ASSERT_TRUE(mark_cloexec_from(pipe.fds[1]));
  EXPECT_FALSE(cloexec(pipe.fds[0])) << "below the first: left alone";
  EXPECT_TRUE(cloexec(pipe.fds[1]));
}

TEST(Cloexec, TheListingFallbackDoesTheSame) {
  InheritablePipe pipe;
  ASSERT_TRUE(mark_cloexec_from_listing(pipe.fds[0]));
  EXPECT_TRUE(cloexec(pipe.fds[0]));
  EXPECT_TRUE(cloexec(pipe.fds[1]));
  EXPECT_FALSE(cloexec(0)) << "stdin is below the first";
}

TEST(Cloexec, AHookInheritsNoDescriptorOfItsParent) {
  std::signal(SIGPIPE, SIG_IGN);
  InheritablePipe pipe;
  // Far from what the shell opens for itself; inheritable, as Asio's sockets are.
  constexpr int kFar = 100;
  ASSERT_EQ(::dup2(pipe.fds[1], kFar), kFar);
  ASSERT_FALSE(cloexec(kFar));
  boost::asio::io_context io;
  std::optional<ProcessResult> result;
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "if [ -e /proc/self/fd/100 ]; then echo inherited; fi"};
  spec.env = {"PATH=/usr/bin:/bin"};
  auto process =
      HookProcess::start(io, spec, nullptr, [&](ProcessResult r) { result = std::move(r); });
  io.run_for(std::chrono::seconds(10));
  ::close(kFar);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok) << result->error;
  EXPECT_EQ(result->output, "");
}

}  // namespace
}  // namespace purgeq
