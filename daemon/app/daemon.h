// The daemon's lifecycle: start storage, recover, listen, dispatch; reload on SIGHUP; stop
// cleanly on SIGTERM; keep systemd informed throughout.
#pragma once

#include <string>

#include "config/config.h"

namespace purgeq {

// What the command line sets besides the config: bound to the process, not reloaded.
struct DaemonOptions {
  // purgeq-hookd's socket: command hooks run through it as their own user; empty: in-process.
  std::string hookd_socket;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 after a clean stop, 1 when start-up
// failed, with the reason logged).
int run_daemon(const std::string& config_path, Config config, const DaemonOptions& options = {});

// Keys whose change needs a restart (they are bound at start-up), "listen.socket" etc.
std::vector<std::string> restart_only_changes(const Config& before, const Config& after);

}  // namespace purgeq
