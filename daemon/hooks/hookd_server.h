// purgeq-hookd: runs command hooks for purgeqd as a user of their own (docs/operations.md,
// "Completion hooks"). A thin server around HookProcess::start, the same code purgeqd uses when
// it spawns hooks itself: one connection per run (hookd_wire.h), from purgeqd's uid only
// (SO_PEERCRED; anyone else is answered with a refusal, logged, and nothing runs). The helper
// holds no secrets and reads no config: what a hook may do is what this process's user and unit
// may do.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace purgeq {

struct HookdOptions {
  uid_t allowed_uid = 0;       // purgeqd's user: the only peer served
  std::size_t max_runs = 256;  // hooks at once; beyond, a run is refused (purgeqd retries it)
  // A connection that sends no spec within this is closed.
  std::chrono::milliseconds spec_deadline{10000};
};

class HookdServer {
 public:
  HookdServer(boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor acceptor,
              HookdOptions options);
  ~HookdServer();
  HookdServer(const HookdServer&) = delete;
  HookdServer& operator=(const HookdServer&) = delete;

  void start();
  // Stops accepting and kills every running hook's process group (the helper is stopping).
  void stop();
  [[nodiscard]] std::size_t running() const;

  struct Registry;  // the runs under way, shared with each run's session

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  HookdOptions options_;
  std::shared_ptr<Registry> registry_;
};

struct HookdCommandLine {
  std::string allow_user;                  // a user name or a numeric uid
  std::optional<std::string> socket_path;  // unset: the socket systemd passes (LISTEN_FDS)
  std::size_t max_runs = 256;
};

// purgeq-hookd's main after argument parsing: listens (the passed socket, or a fresh 0600 one at
// socket_path), tells systemd it is ready, serves until SIGTERM or SIGINT. The exit code: 0 after
// a stop, 2 for a bad command line (unknown user, no socket), 1 when it could not listen.
int run_hookd(const HookdCommandLine& command_line);

}  // namespace purgeq
