// One run of a command hook: the program started with posix_spawn (no shell) in its own process
// group, stdin fed in chunks from the caller, stdout and stderr captured up to a bound, and a
// deadline after which the whole group gets SIGTERM, then SIGKILL. The caller's process must
// ignore SIGPIPE (purgeqd does), or a hook that closes its stdin early would kill it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace purgeq {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0]: the program, by absolute path
  std::vector<std::string> env;   // "NAME=value"; the whole environment (nothing is inherited)
  std::chrono::milliseconds timeout{30000};
  // After SIGTERM at the deadline, how long the group has before SIGKILL.
  std::chrono::milliseconds kill_grace{2000};
  std::size_t max_output = 4096;  // bytes of stdout+stderr kept (the rest is read and dropped)
};

struct ProcessResult {
  bool ok = false;     // exited with status 0 before the deadline
  std::string error;   // why not: "exit status 3", "killed by signal 9", "timed out after 5s"...
  std::string output;  // the first max_output bytes of stdout and stderr, interleaved
  bool output_truncated = false;
};

// Feeds stdin: called for each next chunk; answer with the chunk, or nullopt at the end (stdin
// is then closed). The next call comes only after the chunk is written.
using StdinFeed = std::function<void(std::function<void(std::optional<std::string>)>)>;

class HookProcess {
 public:
  // Starts the program; `done` runs exactly once on the io_context (never inside this call),
  // unless kill_all() ran first. A program that cannot be started completes with its error.
  static std::shared_ptr<HookProcess> start(boost::asio::io_context& io, ProcessSpec spec,
                                            StdinFeed feed,
                                            std::function<void(ProcessResult)> done);
  virtual ~HookProcess() = default;
  // SIGKILL to the process group now; `done` is not called (the daemon is stopping).
  virtual void kill_all() = 0;
};

}  // namespace purgeq
