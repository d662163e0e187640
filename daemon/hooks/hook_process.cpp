// posix_spawn rather than fork: nothing of the daemon's (its threads, its locks) runs in the
// child between fork and exec, and glibc reports an exec failure as the call's error. The child
// gets its own process group so the deadline reaches whatever it started, and a pidfd tells the
// event loop when it exits without a SIGCHLD handler that would be process-wide.
#include "hooks/hook_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>

#include "config/duration.h"
#include "hooks/cloexec.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;

// Without a pidfd (kernels before 5.3), how often the loop looks whether the child exited.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

class Process final : public HookProcess, public std::enable_shared_from_this<Process> {
 public:
  Process(asio::io_context& io, ProcessSpec spec, StdinFeed feed,
          std::function<void(ProcessResult)> done)
      : io_(io),
        spec_(std::move(spec)),
        feed_(std::move(feed)),
        done_(std::move(done)),
        in_(io),
        out_(io),
        pidfd_(io),
        deadline_(io),
        kill_timer_(io),
        poll_timer_(io) {}

  void launch();
  void kill_all() override;

 private:
  void fail_to_start(int error);
  void feed_next();
  void read_output();
  void watch_exit();
  void reap();
  void keep_output(const char* data, std::size_t size);
  void finish(ProcessResult result);

  asio::io_context& io_;
  ProcessSpec spec_;
  StdinFeed feed_;
  std::function<void(ProcessResult)> done_;
  pid_t pid_ = -1;
  asio::posix::stream_descriptor in_;     // the child's stdin
  asio::posix::stream_descriptor out_;    // its stdout and stderr
  asio::posix::stream_descriptor pidfd_;  // readable once it exited
  asio::steady_timer deadline_;
  asio::steady_timer kill_timer_;
  asio::steady_timer poll_timer_;
  std::string output_;
  bool truncated_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
  std::array<char, 4096> buffer_{};
};

void Process::fail_to_start(int error) {
  finish(ProcessResult{false,
                       fmt::format("cannot run {}: {}",
                                   spec_.argv.empty() ? std::string("(no program)") : spec_.argv[0],
                                   std::strerror(error)),
                       {},
                       false});
}

void Process::launch() {
  if (spec_.argv.empty()) return fail_to_start(EINVAL);
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0) return fail_to_start(errno);
  if (::pipe2(out, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(in[0]);
    ::close(in[1]);
    return fail_to_start(error);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on 0-2; every other descriptor of the daemon is closed, whether
  // or not its opener asked for O_CLOEXEC (the database, sockets, the journal's).
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#else
  // No closefrom among the spawn's actions: mark them close-on-exec here instead. (A descriptor
  // another thread opens without O_CLOEXEC between this and the exec can still slip through.)
  mark_cloexec_from(3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  // purgeqd ignores SIGPIPE; a hook expects the default (die when its reader goes away).
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char*> argv;
  for (auto& arg : spec_.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& var : spec_.env) envp.push_back(var.data());
  envp.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    pid_ = -1;
    return fail_to_start(rc);
  }
  ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);
  ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);
  in_.assign(in[1]);
  out_.assign(out[0]);
  deadline_.expires_after(spec_.timeout);
  deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->finished_) return;
    self->timed_out_ = true;
    ::kill(-self->pid_, SIGTERM);
    self->kill_timer_.expires_after(self->spec_.kill_grace);
    self->kill_timer_.async_wait([self](boost::system::error_code ec2) {
      if (!ec2 && !self->finished_) ::kill(-self->pid_, SIGKILL);
    });
  });
  watch_exit();
  read_output();
  feed_next();
}

void Process::watch_exit() {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (fd >= 0) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    pidfd_.assign(fd);
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code ec) {
                        if (!ec && !self->finished_) self->reap();
                      });
    return;
  }
  poll_timer_.expires_after(kPollInterval);
  poll_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->finished_) return;
    siginfo_t info{};
    // WNOWAIT: look without reaping, so the group cannot be reused before it is killed below.
    if (::waitid(P_PID, static_cast<id_t>(self->pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == self->pid_) {
      self->reap();
    } else {
      self->watch_exit();
    }
  });
}

void Process::feed_next() {
  if (!feed_) {
    in_.close();
    return;
  }
  feed_([self = shared_from_this()](std::optional<std::string> chunk) {
    if (self->finished_ || !self->in_.is_open()) return;
    if (!chunk) {
      boost::system::error_code ignored;
      self->in_.close(ignored);
      return;
    }
    auto data = std::make_shared<std::string>(std::move(*chunk));
    asio::async_write(self->in_, asio::buffer(*data),
                      [self, data](boost::system::error_code ec, std::size_t) {
                        if (self->finished_) return;
                        if (ec) {
                          // The hook closed its stdin (or exited): it does not want the rest.
                          boost::system::error_code ignored;
                          self->in_.close(ignored);
                          return;
                        }
                        self->feed_next();
                      });
  });
}

void Process::keep_output(const char* data, std::size_t size) {
  const std::size_t room = spec_.max_output - std::min(spec_.max_output, output_.size());
  output_.append(data, std::min(room, size));
  if (size > room) truncated_ = true;
}

void Process::read_output() {
  out_.async_read_some(asio::buffer(buffer_),
                       [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                         if (self->finished_) return;
                         self->keep_output(self->buffer_.data(), n);
                         if (!ec) self->read_output();
                       });
}

void Process::reap() {
  // The leader has exited but is not reaped, so its group id cannot be reused yet: whatever it
  // left running in the group is bounded by the run too.
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t waited = 0;
  do {
    waited = ::waitpid(pid_, &status, 0);
  } while (waited < 0 && errno == EINTR);
  // Output still in the pipe (its writers are gone now).
  for (;;) {
    const auto n = ::read(out_.native_handle(), buffer_.data(), buffer_.size());
    if (n <= 0) break;
    keep_output(buffer_.data(), static_cast<std::size_t>(n));
  }
  ProcessResult result;
  if (timed_out_) {
    result.error = fmt::format("timed out after {} (killed)", format_duration(spec_.timeout));
  } else if (waited < 0) {
    result.error = fmt::format("cannot wait for it: {}", std::strerror(errno));
  } else if (WIFEXITED(status)) {
    result.ok = WEXITSTATUS(status) == 0;
    if (!result.ok) result.error = fmt::format("exit status {}", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result.error = fmt::format("killed by signal {}", WTERMSIG(status));
  } else {
    result.error = "ended abnormally";
  }
  result.output = std::move(output_);
  result.output_truncated = truncated_;
  pid_ = -1;
  finish(std::move(result));
}

void Process::finish(ProcessResult result) {
  finished_ = true;
  boost::system::error_code ignored;
  deadline_.cancel();
  kill_timer_.cancel();
  poll_timer_.cancel();
  in_.close(ignored);
  out_.close(ignored);
  pidfd_.close(ignored);
  feed_ = nullptr;
  if (!done_) return;
  asio::post(io_, [done = std::move(done_), result = std::move(result)]() mutable {
    done(std::move(result));
  });
  done_ = nullptr;
}

void Process::kill_all() {
  if (finished_) return;
  done_ = nullptr;
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  finish({});
}

}  // namespace

std::shared_ptr<HookProcess> HookProcess::start(asio::io_context& io, ProcessSpec spec,
                                                StdinFeed feed,
                                                std::function<void(ProcessResult)> done) {
  auto process = std::make_shared<Process>(io, std::move(spec), std::move(feed), std::move(done));
  process->launch();
  return process;
}

}  // namespace purgeq
