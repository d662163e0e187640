// purgeqd: parses the command line and hands over to the daemon.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/daemon.h"
#include "app/online_check.h"
#include "app/store_setup.h"
#include "config/config.h"
#include "config/secrets.h"

int main(int argc, char** argv) {
  // Not dumpable, from the start: its /proc entries (environ, mem, fd) become root's, no process
  // of its user may ptrace it, and it leaves no core dump holding a token.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  CLI::App app{"purgeqd: durable, batching cache-purge daemon for Cloudflare"};
  std::string config_path;
  bool check_only = false;
  bool online = false;
  app.add_option("--config", config_path, "YAML configuration file")->required()->type_name("FILE");
  app.add_flag("--check-config", check_only, "validate the configuration and exit (0 ok, 2 bad)");
  app.add_flag("--online", online,
               "with --check-config: also look every zone up with its account's token")
      ->needs("--check-config");
  purgeq::DaemonOptions options;
  app.add_option("--hookd-socket", options.hookd_socket,
                 "run command hooks through purgeq-hookd listening on this socket")
      ->type_name("PATH");
  app.set_version_flag("--version", "purgeqd " PURGEQ_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (check_only) {
    const purgeq::ConfigCheck check = purgeq::check_config_file(config_path);
    for (const auto& problem : check.problems) std::fprintf(stderr, "%s\n", problem.c_str());
    for (const auto& note : check.notes) std::printf("note: %s\n", note.c_str());
    if (!check.config) return 2;
    // The rest of the config is valid: see whether the PostgreSQL server it names answers.
    const purgeq::StorageCheck storage = purgeq::check_storage(check.config->storage);
    for (const auto& problem : storage.problems) std::fprintf(stderr, "%s\n", problem.c_str());
    for (const auto& note : storage.notes) std::printf("note: %s\n", note.c_str());
    if (!storage.problems.empty()) return 2;
    if (online && !check.config->dry_run) {
      const purgeq::OnlineCheck zones = purgeq::check_zones_online(*check.config);
      for (const auto& line : zones.lines) std::printf("%s\n", line.c_str());
      for (const auto& problem : zones.problems) std::fprintf(stderr, "%s\n", problem.c_str());
      if (!zones.problems.empty()) return 2;
      if (zones.unreachable) {
        std::fprintf(stderr,
                     "Cloudflare could not be reached for every zone: purgeqd would "
                     "start and hold their intents until it can\n");
        return 1;
      }
    } else if (online) {
      std::printf("note: dry_run is true: nothing is looked up (the daemon would not either)\n");
    }
    std::printf("%s: OK (%zu accounts, %zu zones%s)\n", config_path.c_str(),
                check.config->accounts.size(), check.config->zones.size(),
                check.config->dry_run ? ", dry run" : "");
    return 0;
  }
  purgeq::Config config;
  try {
    config = purgeq::load_config_for_start(config_path);
  } catch (const purgeq::ConfigError& e) {
    for (const auto& problem : e.problems()) std::fprintf(stderr, "%s\n", problem.c_str());
    return 2;
  }
  // Still one thread here. Hooks never get the daemon's environment, but its /proc entry would
  // show a token_env token to anything that can read it.
  purgeq::take_token_env(config);
  return purgeq::run_daemon(config_path, std::move(config), options);
}
