// purgeq: the command-line client of purgeqd; everything happens in cli/ (purgeq_core).
#include "cli/cli_commands.h"

int main(int argc, char** argv) {
  return purgeq::cli::run(argc, argv);
}
