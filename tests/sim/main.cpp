// purgeq_sim: runs the delivery engine through simulated seeds (simulation.h) and reports each
// failure with the command that replays it.
//   purgeq_sim --seeds N [--seed-start S]   a campaign; exits 1 if any seed failed
//   purgeq_sim --seed S [--trace]           one seed, every step printed with --trace
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>

#include "observe/log.h"
#include "observe/log_level.h"
#include "simulation.h"

int main(int argc, char** argv) {
  CLI::App app{"purgeq_sim: deterministic simulation of purgeq's delivery engine"};
  std::uint64_t seeds = 0, seed_start = 1;
  std::optional<std::uint64_t> seed;
  bool trace = false;
  std::string dir = "/dev/shm";
  app.add_option("--seeds", seeds, "run this many seeds");
  app.add_option("--seed-start", seed_start, "the first seed of --seeds");
  app.add_option("--seed", seed, "run one seed");
  app.add_flag("--trace", trace, "print every step of the run (with --seed)");
  app.add_option("--dir", dir, "where the runs' databases live");
  CLI11_PARSE(app, argc, argv);
  if (!seed && seeds == 0) {
    fmt::print(stderr, "purgeq_sim: give --seeds N or --seed S\n");
    return 2;
  }
  purgeq::log::set_level(trace ? purgeq::LogLevel::info : purgeq::LogLevel::error);
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t failures = 0;
  double hours = 0;
  const std::uint64_t first = seed.value_or(seed_start);
  const std::uint64_t count = seed ? 1 : seeds;
  for (std::uint64_t s = first; s < first + count; ++s) {
    const auto result = purgeq::sim::simulate({s, trace, dir});
    hours += result.simulated_hours;
    if (!result.ok) {
      ++failures;
      fmt::print("seed {} broke {}: {}\n  replay: purgeq_sim --seed {} --trace\n", s,
                 result.invariant, result.detail, s);
    } else if (seed) {
      fmt::print("seed {} held: {} intents, {} requests, {:.2f} simulated hours\n", s,
                 result.intents, result.requests, result.simulated_hours);
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("seeds {} failures {} simulated_hours {:.0f} wall_s {:.0f}\n", count, failures, hours,
             wall);
  return failures > 0 ? 1 : 0;
}
