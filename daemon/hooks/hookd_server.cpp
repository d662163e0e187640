#include "hooks/hookd_server.h"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "hooks/hook_process.h"
#include "hooks/hookd_channel.h"
#include "observe/log.h"
#include "observe/notify.h"

namespace purgeq {

namespace asio = boost::asio;
using hookd::FrameType;
using local = asio::local::stream_protocol;

namespace {

class Session;

}  // namespace

struct HookdServer::Registry {
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::uint64_t next_id = 1;
};

namespace {

// One connection from purgeqd: one hook run.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::io_context& io, std::shared_ptr<hookd::Channel> channel,
          std::shared_ptr<HookdServer::Registry> registry, std::uint64_t id, long peer_pid)
      : io_(io),
        channel_(std::move(channel)),
        registry_(std::move(registry)),
        id_(id),
        peer_pid_(peer_pid),
        spec_timer_(io) {}

  void start(std::chrono::milliseconds spec_deadline) {
    spec_timer_.expires_after(spec_deadline);
    spec_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->process_ || self->ended_) return;
      self->protocol_error("no spec in time");
    });
    channel_->start(
        [self = shared_from_this()](FrameType type, std::string payload) {
          self->on_frame(type, std::move(payload));
        },
        [self = shared_from_this()](const std::string& reason, bool broken) {
          if (broken) return self->protocol_error(reason);
          self->peer_gone(reason);
        });
  }

  // The helper is stopping: the hook's group is killed, purgeqd sees the connection end.
  void stop() {
    if (process_ && !done_) process_->kill_all();
    end();
  }

 private:
  void on_frame(FrameType type, std::string payload) {
    if (ended_) return;
    switch (type) {
      case FrameType::spec:
        return spawn(payload);
      case FrameType::stdin_piece:
      case FrameType::stdin_end: {
        if (!give_) return protocol_error("stdin that was not asked for");
        auto give = std::move(give_);
        give_ = nullptr;
        if (type == FrameType::stdin_end) return give(std::nullopt);
        if (payload.empty()) return protocol_error("an empty stdin frame");
        return give(std::move(payload));
      }
      case FrameType::want_stdin:
      case FrameType::result:
        break;
    }
    protocol_error(fmt::format("a {} frame", hookd::type_name(type)));
  }

  void spawn(const std::string& payload) {
    if (process_) return protocol_error("a second spec");
    spec_timer_.cancel();
    std::string error;
    auto spec = hookd::decode_spec(payload, error);
    if (!spec) return protocol_error("bad spec: " + error);
    log::debug("hookd_run_started", "program={} peer_pid={}", log::quote(spec->argv.front()),
               peer_pid_);
    auto self = shared_from_this();
    // The helper pulls each piece of stdin from purgeqd when the previous one is written, as
    // HookProcess pulls from an in-process feed.
    StdinFeed feed = [self](std::function<void(std::optional<std::string>)> give) {
      self->give_ = std::move(give);
      self->channel_->send(FrameType::want_stdin, {});
    };
    process_ = HookProcess::start(io_, std::move(*spec), std::move(feed), [self](ProcessResult r) {
      self->done_ = true;
      self->channel_->send(FrameType::result, hookd::encode_result(r));
      self->channel_->close_after_sends();
      self->end();
    });
  }

  void peer_gone(const std::string& reason) {
    if (process_ && !done_) {
      // purgeqd stopped (its hooks run again at its next start) or died: nothing would read the
      // result, and a hook outliving its run would break max_concurrent.
      log::notice("hookd_run_abandoned", "peer_pid={} reason={} note={}", peer_pid_,
                  log::quote(reason.empty() ? "closed" : reason),
                  log::quote("purgeqd went away; the hook's process group is killed"));
      process_->kill_all();
    }
    end();
  }

  void protocol_error(const std::string& what) {
    log::warning("hookd_protocol_error", "peer_pid={} error={}", peer_pid_, log::quote(what));
    if (process_ && !done_) process_->kill_all();
    channel_->send(
        FrameType::result,
        hookd::encode_result({false, "purgeq-hookd: protocol error: " + what, {}, false}));
    channel_->close_after_sends();
    end();
  }

  // Leaves the registry; what is still queued on the channel is written first.
  void end() {
    if (ended_) return;
    ended_ = true;
    spec_timer_.cancel();
    give_ = nullptr;
    if (!channel_->is_open()) {
      // Already closed (stop, or the peer left).
    } else if (!done_) {
      channel_->close_after_sends();
    }
    registry_->sessions.erase(id_);  // may destroy this: nothing after it
  }

  asio::io_context& io_;
  std::shared_ptr<hookd::Channel> channel_;
  std::shared_ptr<HookdServer::Registry> registry_;
  std::uint64_t id_;
  long peer_pid_;
  asio::steady_timer spec_timer_;
  std::shared_ptr<HookProcess> process_;
  std::function<void(std::optional<std::string>)> give_;  // the pending pull for stdin
  bool done_ = false;
  bool ended_ = false;
};

}  // namespace

HookdServer::HookdServer(asio::io_context& io, local::acceptor acceptor, HookdOptions options)
    : io_(io),
      acceptor_(std::move(acceptor)),
      options_(options),
      registry_(std::make_shared<Registry>()) {}

HookdServer::~HookdServer() {
  stop();
}

std::size_t HookdServer::running() const {
  return registry_->sessions.size();
}

void HookdServer::start() {
  accept();
}

void HookdServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and the like: the connection stays in the backlog; look again shortly.
      log::warning("hookd_accept_failed", "error={}", log::quote(ec.message()));
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](boost::system::error_code) {
        if (acceptor_.is_open()) accept();
      });
      return;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    const bool known =
        ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    auto channel = std::make_shared<hookd::Channel>(std::move(socket));
    if (!known || cred.uid != options_.allowed_uid) {
      // The socket's mode already keeps others out; this holds if it is ever loosened.
      const std::string uid = known ? std::to_string(cred.uid) : std::string("unknown");
      log::warning("hookd_peer_refused", "uid={} pid={} allowed_uid={}", uid,
                   known ? static_cast<long>(cred.pid) : -1L, options_.allowed_uid);
      channel->send(FrameType::result,
                    hookd::encode_result({false,
                                          fmt::format("purgeq-hookd runs hooks for uid {} only, "
                                                      "not for uid {}",
                                                      options_.allowed_uid, uid),
                                          {},
                                          false}));
      channel->close_after_sends();
    } else if (registry_->sessions.size() >= options_.max_runs) {
      log::warning("hookd_busy", "running={} max_runs={}", registry_->sessions.size(),
                   options_.max_runs);
      channel->send(FrameType::result,
                    hookd::encode_result({false,
                                          fmt::format("purgeq-hookd is running {} hooks, its "
                                                      "limit (--max-runs)",
                                                      options_.max_runs),
                                          {},
                                          false}));
      channel->close_after_sends();
    } else {
      const auto id = registry_->next_id++;
      auto session =
          std::make_shared<Session>(io_, channel, registry_, id, static_cast<long>(cred.pid));
      registry_->sessions.emplace(id, session);
      session->start(options_.spec_deadline);
    }
    accept();
  });
}

void HookdServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // Session::stop leaves the registry: take them out first.
  auto sessions = std::move(registry_->sessions);
  registry_->sessions.clear();
  for (auto& [id, session] : sessions) session->stop();
}

namespace {

std::optional<uid_t> resolve_user(const std::string& user) {
  if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return static_cast<uid_t>(std::stoul(user));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  const passwd* entry = ::getpwnam(user.c_str());
  if (entry == nullptr) return std::nullopt;
  return entry->pw_uid;
}

// Each run holds its connection, two pipes and a pidfd: make room for max_runs of them.
void raise_descriptor_limit(std::size_t max_runs) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_runs) * 6 + 64;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int run_hookd(const HookdCommandLine& command_line) {
  // Hooks run as this process's user: not dumpable, so that they cannot ptrace it to read the
  // other runs' stdin or steer their spawns.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // A hook that closes its stdin early must not kill the helper (HookProcess's precondition).
  std::signal(SIGPIPE, SIG_IGN);
  const auto uid = resolve_user(command_line.allow_user);
  if (!uid) {
    std::fprintf(stderr, "purgeq-hookd: --allow-user: unknown user \"%s\"\n",
                 command_line.allow_user.c_str());
    return 2;
  }
  if (command_line.max_runs == 0) {
    std::fprintf(stderr, "purgeq-hookd: --max-runs must be at least 1\n");
    return 2;
  }
  raise_descriptor_limit(command_line.max_runs);
  asio::io_context io;
  local::acceptor acceptor(io);
  std::string where;
  try {
    if (const auto fd = notify::activated_socket()) {
      acceptor.assign(local(), *fd);
      where = "socket activation";
    } else if (command_line.socket_path) {
      const auto& path = *command_line.socket_path;
      struct stat st {};
      // A socket left by an earlier run (not under systemd, which owns its sockets).
      if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
      const mode_t old_mask = ::umask(0177);  // 0600: the owner alone may connect
      acceptor.open(local());
      acceptor.bind(local::endpoint(path));
      ::umask(old_mask);
      acceptor.listen(asio::socket_base::max_listen_connections);
      where = path;
    } else {
      std::fprintf(stderr,
                   "purgeq-hookd: no socket: give --socket PATH, or start it from "
                   "purgeq-hookd.socket\n");
      return 2;
    }
  } catch (const std::exception& e) {
    log::error("hookd_listen_failed", "error={}", log::quote(e.what()));
    return 1;
  }
  HookdOptions options;
  options.allowed_uid = *uid;
  options.max_runs = command_line.max_runs;
  HookdServer server(io, std::move(acceptor), options);
  server.start();
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    notify::stopping();
    if (server.running() > 0) {
      log::notice("hookd_stopping", "runs_killed={}", server.running());
    }
    server.stop();
    io.stop();
  });
  log::info("hookd_listening", "socket={} allowed_uid={} uid={} max_runs={}", log::quote(where),
            *uid, ::getuid(), options.max_runs);
  notify::ready();
  io.run();
  return 0;
}

}  // namespace purgeq
