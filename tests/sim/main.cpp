// purgeq_sim: runs the delivery engine through simulated seeds (simulation.h) and reports each
// failure with the command that replays it.
//   purgeq_sim --seeds N [--seed-start S]   a campaign; exits 1 if any seed failed
//   purgeq_sim --seed S [--trace]           one seed, every step printed with --trace
//   purgeq_sim --seed-list 7,56             the seeds that once found a defect (ctest runs them)
//   --budget-s B                            start no seed after B seconds (ctest's bounded batch)
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

#include "observe/log.h"
#include "observe/log_level.h"
#include "simulation.h"

int main(int argc, char** argv) {
  CLI::App app{"purgeq_sim: deterministic simulation of purgeq's delivery engine"};
  std::uint64_t seeds = 0, seed_start = 1;
  std::optional<std::uint64_t> seed;
  bool trace = false;
  std::string dir = "/dev/shm";
  std::vector<std::uint64_t> seed_list;
  double budget_s = 0;
  app.add_option("--seeds", seeds, "run this many seeds");
  app.add_option("--seed-list", seed_list, "run these seeds")->delimiter(',');
  app.add_option("--budget-s", budget_s, "start no seed after this many seconds (0: no limit)");
  app.add_option("--seed-start", seed_start, "the first seed of --seeds");
  app.add_option("--seed", seed, "run one seed");
  app.add_flag("--trace", trace, "print every step of the run (with --seed)");
  app.add_option("--dir", dir, "where the runs' databases live");
  CLI11_PARSE(app, argc, argv);
  if (seed) seed_list = {*seed};
  for (std::uint64_t s = seed_start; s < seed_start + seeds; ++s) seed_list.push_back(s);
  if (seed_list.empty()) {
    fmt::print(stderr, "purgeq_sim: give --seeds N, --seed S or --seed-list S,...\n");
    return 2;
  }
  purgeq::log::set_level(trace ? purgeq::LogLevel::info : purgeq::LogLevel::error);
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t failures = 0;
  double hours = 0;
  std::uint64_t count = 0;
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  for (const auto s : seed_list) {
    if (budget_s > 0 && elapsed() > budget_s) {
      fmt::print("budget of {:.0f} s spent: {} of {} seeds run\n", budget_s, count,
                 seed_list.size());
      break;
    }
    ++count;
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
    // A long campaign says how far it got (a killed one still leaves its count behind).
    if (seed_list.size() >= 1000 && count % 500 == 0) {
      fmt::print("progress: seeds {} failures {} simulated_hours {:.0f} wall_s {:.0f}\n", count,
                 failures, hours, elapsed());
    }
    std::fflush(stdout);
  }
  const double wall = elapsed();
  fmt::print("seeds {} failures {} simulated_hours {:.0f} wall_s {:.0f}\n", count, failures, hours,
             wall);
  return failures > 0 ? 1 : 0;
}
