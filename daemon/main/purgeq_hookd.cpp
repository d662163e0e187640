// purgeq-hookd: parses the command line and hands over to the helper (hooks/hookd_server.h).
#include <CLI/CLI.hpp>

#include "hooks/hookd_server.h"

int main(int argc, char** argv) {
  CLI::App app{"purgeq-hookd: runs purgeqd's command hooks as a user of their own"};
  purgeq::HookdCommandLine command_line;
  app.add_option("--allow-user", command_line.allow_user,
                 "purgeqd's user (name or uid): the only peer served")
      ->required()
      ->type_name("USER");
  app.add_option("--socket", command_line.socket_path,
                 "listen here (0600) instead of on the socket systemd passes")
      ->type_name("PATH");
  app.add_option("--max-runs", command_line.max_runs, "hooks at once (default 256)")
      ->type_name("N");
  app.set_version_flag("--version", "purgeq-hookd " PURGEQ_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return purgeq::run_hookd(command_line);
}
