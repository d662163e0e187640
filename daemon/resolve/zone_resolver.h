// Looks zones up by name with their account's token, and refreshes them (docs/configuration.md,
// "Zones by name"): GET /zones?name= (every page), GET /zones/{id} once an id is known, and a
// token check per account. The driver only: what the answers mean is zone_answers.h, what the
// daemon does with a resolution (store it, apply it to the config) is its hooks'.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "config/config.h"
#include "config/known_zones.h"
#include "io/backoff.h"
#include "io/clocks.h"
#include "io/scheduler.h"
#include "io/transport.h"
#include "model/zone_record.h"

namespace purgeq {

// A looked-up zone is looked up again this long after Cloudflare's last answer (a plan upgrade
// is picked up within a day), and at every start and reload.
constexpr auto kZoneRefreshInterval = std::chrono::hours(24);

struct ResolverEnv {
  Clocks& clocks;
  Scheduler& scheduler;
  Transport& transport;
  std::uint64_t seed = 0;  // backoff jitter; 0 draws it from the system's entropy
};

struct ResolverHooks {
  // A lookup of `account` wants to go: zero when the account's global window had a slot (now
  // taken), else how long to wait (Dispatcher::take_api_request).
  std::function<Clock::duration(const std::string& account)> pace;
  // Cloudflare answered for a zone: the daemon stores the record and applies it.
  std::function<void(const ZoneRecord&)> resolved;
  // Failures or token checks changed (status, waiting_for).
  std::function<void(std::shared_ptr<const LookupStatus>)> status_changed;
  // Every zone the last reconfigure() looked up has had one answer (or failure) at least.
  std::function<void()> round_done;
  // A lookup's outcome, for metrics: "found", "not_found", "refused", "outage".
  std::function<void(const std::string& outcome)> counted;
};

class ZoneResolver {
 public:
  ZoneResolver(ResolverEnv env, ResolverHooks hooks);
  ~ZoneResolver();
  ZoneResolver(const ZoneResolver&) = delete;
  // Before the first reconfigure(), for owners whose hooks name members built after this one.
  void set_hooks(ResolverHooks hooks) { hooks_ = std::move(hooks); }
  ZoneResolver& operator=(const ZoneResolver&) = delete;

  // The config in effect (with_known_zones applied). Zones without an id are looked up by name,
  // the others refreshed by id: now when `refresh` (start, reload) or when their record is older
  // than kZoneRefreshInterval, else at that age. Zones that need nothing from Cloudflare (id and
  // the account's plan both set) are left alone.
  void reconfigure(std::shared_ptr<const Config> config, bool refresh);
  // Nothing more is sent; answers still on their way are ignored.
  void stop();

  [[nodiscard]] const LookupStatus& status() const { return *status_; }

 private:
  struct Job {
    std::uint64_t generation = 0;  // answers of an older generation are ignored
    bool by_id = false;            // refreshing GET /zones/{id}; else searching by name
    std::string id;                // for by_id
    int page = 1;
    std::optional<ZoneRecord> inactive;  // an inactive zone of that name met on an earlier page
    std::optional<Scheduler::TimerId> timer;
    bool in_flight = false;
  };

  void begin(const std::string& name, bool by_id, std::string id, Clock::time_point when);
  void send(const std::string& name, std::uint64_t generation);
  void answered(const std::string& name, std::uint64_t generation, const HttpResponse& response);
  void succeed(const std::string& name, const ZoneRecord& record);
  void fail(const std::string& name, bool refused, const std::string& error);
  void verify_token(const std::string& account, const std::string& account_id, bool by_account);
  void round_step(const std::string& name);
  [[nodiscard]] HttpRequest request_to(const Account& account, std::string url) const;
  void publish();
  LookupStatus& edit();

  ResolverEnv env_;
  ResolverHooks hooks_;
  Backoff backoff_;
  std::mt19937_64 rng_;
  std::shared_ptr<const Config> config_;
  std::map<std::string, Job, std::less<>> jobs_;  // by zone name
  std::shared_ptr<LookupStatus> status_ = std::make_shared<LookupStatus>();
  std::set<std::string, std::less<>> round_;      // zones of this round not yet answered
  std::set<std::string, std::less<>> verifying_;  // accounts whose token check is on its way
  std::uint64_t next_generation_ = 1;
  bool stopped_ = false;
};

}  // namespace purgeq
