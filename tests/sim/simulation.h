// One simulated run of the delivery engine, chosen entirely by its seed: the real AccountEngine,
// the real driver (Dispatcher) and the real SQLite store, on a simulated clock, against a
// simulated Cloudflare (world/sim_cloudflare.h), under a workload of intents and a script of
// faults and operator events (reloads, SIGTERM, kill -9, a full disk, retry-failed). Invariants are
// checked as it runs and at its end. The same seed always gives the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace purgeq::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  bool trace = false;  // print every step
  // Where the run's database lives (a fresh file per run, removed at its end).
  std::string dir = "/dev/shm";
};

struct SimResult {
  bool ok = true;
  std::string invariant;  // the first invariant broken
  std::string detail;
  double simulated_hours = 0;
  std::size_t intents = 0;
  std::size_t requests = 0;
};

SimResult simulate(const SimOptions& options);

}  // namespace purgeq::sim
