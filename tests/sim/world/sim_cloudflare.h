// Cloudflare's purge endpoint as the simulator sees it, on the simulation's clock: per-account
// token buckets by plan (flex and URL), the global 1,200-per-5-minutes window per token, the
// per-request caps and body limit, and the faults a run injects (outages, 5xx, resets before and
// after the purge took effect, lost and slow answers, 429 with and without Retry-After, broken
// tokens, items Cloudflare refuses). A purge takes effect when the request arrives, which is when
// it is posted; its answer comes later as a scheduler task.
//
// Everything that breaks Cloudflare's contract is recorded as a violation (a request of two kinds,
// over a cap, a 429 from a bucket the daemon should have paced under).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/plans.h"
#include "io/transport.h"
#include "model/item.h"
#include "world/manual_time.h"

namespace purgeq::sim {

// What the simulated Cloudflare does wrong, now (the run changes it over time).
struct CloudflareFaults {
  bool outage = false;                // every connection is refused
  double server_errors = 0;           // share of requests answered 502/503, purging nothing
  double resets_before = 0;           // ... cut before the purge took effect
  double resets_after = 0;            // ... cut after it took effect
  double lost_answers = 0;            // ... whose answer never comes (the client times out)
  double slow_answers = 0;            // ... answered after 2-20 s
  double injected_429 = 0;            // ... refused with 429 (half of them with Retry-After)
  std::set<std::string> broken_tokens;  // answered 401 (an auth failure)
  // Items refused with a 400 whenever a request names them ("kind:key", e.g. "tag:poison-1").
  std::set<std::string> poison;
};

// One request that purged: when it arrived and what it named.
struct SimPurge {
  Clock::time_point at;
  std::size_t request = 0;  // index in requests()
  std::string zone_id;
  Kind kind = Kind::file;
  std::vector<Item> items;  // empty for purge_everything
};

struct SimRequest {
  Clock::time_point at;
  std::string zone_id;
  std::string token;
  std::string kind;  // the body's key
  std::size_t items = 0;
  std::vector<Item> named;  // what it named (when its body could be read)
  long status = 0;             // what was answered (0: a transport error)
  std::string transport_error;
  bool purged = false;
};

class SimCloudflare final : public Transport {
 public:
  SimCloudflare(ManualScheduler& scheduler, ManualClocks& clocks, std::uint64_t seed);

  // The accounts (by token) and which account's token owns each zone; a plan change keeps the
  // buckets' levels, cut to the new sizes.
  void set_account(const std::string& token, Plan plan);
  void set_zone(const std::string& zone_id, const std::string& token);
  CloudflareFaults& faults() { return faults_; }

  void post(HttpRequest request, Handler done) override;
  void cancel_all() override;
  // The daemon died: answers still to come are dropped (their purges stay done).
  void crash();

  [[nodiscard]] const std::vector<SimPurge>& purges() const { return purges_; }
  [[nodiscard]] const std::vector<SimRequest>& requests() const { return requests_; }
  [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
  [[nodiscard]] std::optional<Clock::time_point> last_request(const std::string& token) const;
  // Told of each request and answer, for a trace.
  std::function<void(const std::string&)> on_trace;

 private:
  struct Bucket {
    double rate = 0;
    double capacity = 0;
    double tokens = 0;
    Clock::time_point last;
    void refill(Clock::time_point now);
  };
  struct Account {
    Plan plan = Plan::enterprise;
    Limits limits;
    Bucket flex, urls;
    std::deque<Clock::time_point> window;  // requests of the last 5 minutes
  };
  struct Pending {
    std::uint64_t id = 0;
    Handler done;
  };
  // The answer for `request`, with its effect applied; `delay` is set to when it comes.
  HttpResponse answer(const HttpRequest& request, Clock::duration& delay, SimRequest& record);
  void deliver(Clock::duration delay, Handler done, HttpResponse response);
  void violation(std::string what);
  bool chance(double p) { return p > 0 && std::uniform_real_distribution<>(0, 1)(rng_) < p; }

  ManualScheduler& scheduler_;
  ManualClocks& clocks_;
  std::mt19937_64 rng_;
  CloudflareFaults faults_;
  std::map<std::string, Account> accounts_;  // by token
  std::map<std::string, std::string> zones_;  // zone id -> token
  std::vector<SimPurge> purges_;
  std::vector<SimRequest> requests_;
  std::vector<std::string> violations_;
  std::map<std::uint64_t, Scheduler::TimerId> answers_;  // not delivered yet
  std::map<std::uint64_t, Handler> handlers_;
  std::uint64_t next_answer_ = 1;
};

}  // namespace purgeq::sim
