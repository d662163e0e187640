// One simulated run (see the header). The run owns its world: the clocks and scheduler, the
// simulated Cloudflare, and the daemon's parts as purgeqd wires them (a store behind inline store
// jobs, the Dispatcher on them). A scenario drawn from the seed schedules intents, faults and
// operator events on a timeline of its own, which a crash leaves standing; the daemon's tasks (its
// timers, store rounds, answers in the air) go with it.
#include "simulation.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "intake/submit.h"
#include "limiter/pacing.h"
#include "observe/log.h"
#include "planner/coverage.h"
#include "store/sqlite_store.h"
#include "world/faulty_store.h"
#include "world/inline_store_jobs.h"
#include "world/manual_time.h"
#include "world/sim_cloudflare.h"

namespace purgeq::sim {
namespace {

using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::int64_t kStepRows = 5000;  // recovery steps, as purgeqd's
constexpr auto kShutdownDeadline = seconds(10);
constexpr auto kCheckEvery = seconds(1);
// How long a queue may have something to send, and the account room to send it, without the
// account sending: its linger, the empty-take retry (2 s), and a margin for the timer and the
// store's rounds.
constexpr auto kStallMargin = seconds(8);

// The first broken invariant ends the run.
struct Broken : std::runtime_error {
  Broken(std::string broken, std::string what)
      : std::runtime_error(broken + ": " + what), invariant(std::move(broken)),
        detail(std::move(what)) {}
  std::string invariant;
  std::string detail;
};

struct AccountSpec {
  std::string name;
  std::string token;
  Plan plan = Plan::enterprise;
};

struct ZoneSpec {
  std::string name;
  std::string id;
  std::size_t account = 0;  // index in the accounts
  int everything_interval_s = 0;
  bool escalate = false;
};

// What a seed draws before the run starts.
struct Shape {
  std::vector<AccountSpec> accounts;
  std::vector<ZoneSpec> zones;
  int linger_ms = 200;
  std::int64_t give_up_s = 3600;
  int retry_max_s = 300;
  Clock::duration duration = minutes(30);
  Clock::duration commit_latency = milliseconds(2);
  bool clean_urls = false;  // one burst of URLs, no faults, no operator events
};

// An acknowledged intent: what it asked for, when it was handed in and when its commit
// acknowledged it.
struct Acked {
  std::string id;
  std::vector<ZonedItem> items;
  Clock::time_point at;
  std::int64_t at_ms = 0;
  std::int64_t submitted_ms = 0;
};

std::string zone_id_for(std::uint64_t seed, std::size_t index) {
  return fmt::format("{:016x}{:016x}", seed * 0x9e3779b97f4a7c15ULL + index, 0xabcdefULL + index);
}

class Run {
 public:
  explicit Run(const SimOptions& options)
      : options_(options),
        rng_(options.seed),
        cf_(scheduler_, clocks_, options.seed ^ 0x5eed),
        path_(fmt::format("{}/purgeq-sim-{}-{}.db", options.dir, ::getpid(), options.seed)) {}
  ~Run() {
    dispatcher_.reset();
    jobs_.reset();
    for (const auto* suffix : {"", "-wal", "-shm", ".reserve"}) {
      std::filesystem::remove(path_ + suffix);
    }
  }

  SimResult go();

 private:
  // --- the scenario -----------------------------------------------------------------------------
  template <class T>
  T uniform(T low, T high) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::uniform_real_distribution<T>(low, high)(rng_);
    } else {
      return std::uniform_int_distribution<T>(low, high)(rng_);
    }
  }
  bool chance(double p) { return uniform(0.0, 1.0) < p; }
  Clock::duration at_fraction(double f) {
    return duration_cast<Clock::duration>(shape_.duration * f);
  }
  void draw_shape();
  std::string config_yaml(const std::vector<AccountSpec>& accounts,
                          const std::vector<ZoneSpec>& zones) const;
  std::shared_ptr<const Config> make_config(const std::vector<AccountSpec>& accounts,
                                            const std::vector<ZoneSpec>& zones) const;
  void schedule(Clock::duration after, std::string what, std::function<void()> event) {
    events_.emplace(clocks_.start() + after, Event{std::move(what), std::move(event)});
  }
  void plan_workload();
  void plan_faults();
  void plan_operator_events();
  Item draw_item(const ZoneSpec& zone, Kind kind);
  std::vector<ZonedItem> draw_intent(const ZoneSpec& zone);

  // --- the daemon ---------------------------------------------------------------------------
  void boot();
  void crash();
  void sigterm();
  // Every object of the daemon dropped (the database stays as it is), and a start scheduled.
  void go_down(int restart_within_s, const char* restart);
  void reload(std::vector<AccountSpec> accounts, std::vector<ZoneSpec> zones, std::string why);
  void submit(std::vector<ZonedItem> items, Lane lane, bool hooks);
  void set_cloudflare(const std::vector<AccountSpec>& accounts, const std::vector<ZoneSpec>& zones);

  // --- the invariants -----------------------------------------------------------------------
  void check_liveness();
  [[nodiscard]] bool quiescent() const;
  void final_checks();
  void check_delivery();
  void check_rows();
  void check_waste();
  // Cloudflare's id of a zone the queue knows by name, and back (the run's zones keep both).
  [[nodiscard]] std::string zone_id_of(const std::string& name) const {
    for (const auto& zone : shape_.zones) {
      if (zone.name == name) return zone.id;
    }
    return name;
  }
  [[nodiscard]] std::string zone_name_of(const std::string& id) const {
    for (const auto& zone : shape_.zones) {
      if (zone.id == id) return zone.name;
    }
    return id;
  }
  void trace(const std::string& line) const {
    if (options_.trace) {
      fmt::print("[{:>10.3f}s] {}\n",
                 std::chrono::duration<double>(clocks_.now() - clocks_.start()).count(), line);
    }
  }

  SimOptions options_;
  std::mt19937_64 rng_;
  ManualClocks clocks_;
  ManualScheduler scheduler_{clocks_};
  SimCloudflare cf_;
  std::string path_;
  Shape shape_;
  // What is configured now, and what the run ends with (every zone, its first accounts).
  std::vector<AccountSpec> accounts_;
  std::vector<ZoneSpec> zones_;
  std::shared_ptr<const Config> config_;
  Metrics metrics_;

  enum class Phase { down, booting, up, stopping };
  Phase phase_ = Phase::down;
  FaultyStore* store_ = nullptr;  // owned by jobs_
  std::unique_ptr<InlineStoreJobs> jobs_;
  std::unique_ptr<Dispatcher> dispatcher_;
  Clock::time_point up_since_{};
  bool disk_full_ = false;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> disk_full_episodes_;
  std::vector<Clock::time_point> retried_failed_;  // when the operator's retry-failed ran

  struct Event {
    std::string what;
    std::function<void()> run;
  };
  std::multimap<Clock::time_point, Event> events_;
  bool draining_ = false;
  Clock::time_point drain_deadline_{};
  bool done_ = false;

  std::vector<Acked> acked_;
  std::uint64_t next_intent_ = 1;
  std::map<std::string, Clock::time_point> sendable_since_;  // by account name
};

// ================================================================================================
// The scenario

void Run::draw_shape() {
  shape_.clean_urls = chance(0.08);
  const int accounts = shape_.clean_urls ? 1 : uniform(1, 2);
  for (int a = 0; a < accounts; ++a) {
    const auto plan = shape_.clean_urls ? (chance(0.5) ? Plan::business : Plan::enterprise)
                                        : static_cast<Plan>(uniform(0, 3));
    shape_.accounts.push_back(AccountSpec{fmt::format("acct{}", a), fmt::format("token-{}", a), plan});
  }
  const int zones = shape_.clean_urls ? 1 : uniform(1, 3);
  for (int z = 0; z < zones; ++z) {
    ZoneSpec zone;
    zone.name = fmt::format("z{}.example", z);
    zone.id = zone_id_for(options_.seed, static_cast<std::size_t>(z));
    zone.account = static_cast<std::size_t>(z) % shape_.accounts.size();
    if (!shape_.clean_urls) {
      zone.everything_interval_s = chance(0.3) ? 60 : 0;
      zone.escalate = chance(0.2);
    }
    shape_.zones.push_back(zone);
  }
  shape_.linger_ms = std::array{0, 200, 1000}[uniform(0, 2)];
  shape_.give_up_s = std::array<std::int64_t, 3>{600, 1800, 7200}[uniform(0, 2)];
  shape_.retry_max_s = chance(0.5) ? 30 : 300;
  shape_.commit_latency = milliseconds(uniform(1, 20));
  const bool long_run = !shape_.clean_urls && chance(0.08);
  shape_.duration = long_run ? hours(uniform(3, 12)) : minutes(uniform(5, 60));
  accounts_ = shape_.accounts;
  zones_ = shape_.zones;
}

std::string Run::config_yaml(const std::vector<AccountSpec>& accounts,
                             const std::vector<ZoneSpec>& zones) const {
  std::string yaml = fmt::format(
      "cloudflare:\n  api_base: https://sim.invalid/client/v4\n  timeout: 10s\n"
      "batching:\n  linger: {}ms\nretry:\n  initial: 1s\n  max: {}s\n  give_up_after: {}s\n"
      "accounts:\n",
      shape_.linger_ms, shape_.retry_max_s, shape_.give_up_s);
  for (const auto& account : accounts) {
    yaml += fmt::format("  - name: {}\n    token_env: PURGEQ_SIM_TOKEN_{}\n    plan: {}\n",
                        account.name, account.token.substr(6), to_string(account.plan));
  }
  yaml += "zones:\n";
  for (const auto& zone : zones) {
    const auto owner = std::find_if(accounts.begin(), accounts.end(), [&](const auto& a) {
      return a.token == shape_.accounts[zone.account].token;
    });
    if (owner == accounts.end()) continue;  // its account is not configured now
    yaml += fmt::format("  - name: {}\n    id: {}\n    account: {}\n", zone.name, zone.id,
                        owner->name);
    if (zone.everything_interval_s > 0) {
      yaml += fmt::format("    everything: {{min_interval: {}s}}\n", zone.everything_interval_s);
    }
    if (zone.escalate) yaml += "    escalate: {depth: 1, min_urls: 20, min_share: 0}\n";
  }
  return yaml;
}

std::shared_ptr<const Config> Run::make_config(const std::vector<AccountSpec>& accounts,
                                               const std::vector<ZoneSpec>& zones) const {
  for (const auto& account : shape_.accounts) {
    ::setenv(fmt::format("PURGEQ_SIM_TOKEN_{}", account.token.substr(6)).c_str(),
             account.token.c_str(), 1);
  }
  return std::make_shared<const Config>(load_config_string(config_yaml(accounts, zones), "sim"));
}

Item Run::draw_item(const ZoneSpec& zone, Kind kind) {
  const std::array hosts{zone.name, "www." + zone.name};
  const auto& host = hosts[uniform<std::size_t>(0, 1)];
  switch (kind) {
    case Kind::file: {
      if (chance(0.01)) return Item{Kind::file, "https://www." + zone.name + "/poison", {}};
      const std::array dirs{"p", "a", "b"};
      Item item{Kind::file,
                fmt::format("https://{}/{}/{}", host, dirs[uniform<std::size_t>(0, 2)],
                            uniform(0, 800)),
                {}};
      if (chance(0.1)) item.headers.emplace_back("CF-Device-Type", "mobile");
      return item;
    }
    case Kind::tag:
      if (chance(0.02)) return Item{Kind::tag, "t-poison", {}};
      return Item{Kind::tag, fmt::format("t{}", uniform(0, 150)), {}};
    case Kind::host:
      return Item{Kind::host, chance(0.5) ? "img." + zone.name : host, {}};
    case Kind::prefix:
      return Item{Kind::prefix, fmt::format("{}/{}/", host, chance(0.5) ? "a" : "b"), {}};
    case Kind::everything:
      return Item{Kind::everything, "", {}};
  }
  return Item{};
}

std::vector<ZonedItem> Run::draw_intent(const ZoneSpec& zone) {
  std::vector<ZonedItem> items;
  const double roll = uniform(0.0, 1.0);
  const auto add = [&](Kind kind, int n) {
    for (int i = 0; i < n; ++i) items.push_back(ZonedItem{zone.name, draw_item(zone, kind)});
  };
  if (roll < 0.015) {
    add(Kind::everything, 1);
  } else if (roll < 0.6) {
    add(Kind::file, chance(0.8) ? uniform(1, 5) : uniform(10, 300));
  } else if (roll < 0.75) {
    add(Kind::tag, uniform(1, 10));
  } else if (roll < 0.85) {
    add(chance(0.5) ? Kind::host : Kind::prefix, uniform(1, 2));
  } else {
    add(Kind::file, uniform(1, 20));
    add(Kind::tag, uniform(1, 5));
    if (chance(0.3)) add(Kind::prefix, 1);
  }
  return items;
}

void Run::plan_workload() {
  if (shape_.clean_urls) {
    const int n = uniform(1000, 20000);
    std::vector<ZonedItem> items;
    for (int i = 0; i < n; ++i) {
      items.push_back(ZonedItem{zones_[0].name,
                                Item{Kind::file, fmt::format("https://{}/c/{}", zones_[0].name, i),
                                     {}}});
    }
    schedule(seconds(1), fmt::format("a burst of {} URLs", n),
             [this, items] { submit(items, Lane::normal, false); });
    return;
  }
  const int intents = uniform(20, 250);
  for (int i = 0; i < intents; ++i) {
    const auto& zone = zones_[uniform<std::size_t>(0, zones_.size() - 1)];
    auto items = draw_intent(zone);
    const double lane_roll = uniform(0.0, 1.0);
    const Lane lane = lane_roll < 0.2 ? Lane::high : (lane_roll < 0.8 ? Lane::normal : Lane::bulk);
    const bool hooks = chance(0.2);
    auto what = fmt::format("an intent of {} items", items.size());
    schedule(at_fraction(uniform(0.0, 0.85)), std::move(what),
             [this, items = std::move(items), lane, hooks] { submit(items, lane, hooks); });
  }
  // Bursts: a backlog far larger than a request; now and then one that a broad purge covers in
  // several store steps.
  for (int b = uniform(0, 2); b > 0; --b) {
    const auto& zone = zones_[uniform<std::size_t>(0, zones_.size() - 1)];
    const int n = chance(0.3) ? uniform(10'500, 16'000) : uniform(300, 3000);
    std::vector<ZonedItem> items;
    for (int i = 0; i < n; ++i) {
      items.push_back(ZonedItem{zone.name, Item{Kind::file,
                                              fmt::format("https://www.{}/b/{}/{}", zone.name,
                                                          b, i),
                                              {}}});
    }
    const auto when = at_fraction(uniform(0.0, 0.7));
    const Lane lane = chance(0.5) ? Lane::bulk : Lane::normal;
    schedule(when, fmt::format("a burst of {} URLs", items.size()),
             [this, items, lane] { submit(items, lane, false); });
    if (chance(0.5)) {
      const Item broad = chance(0.5) ? Item{Kind::host, "www." + zone.name, {}}
                                     : Item{Kind::prefix, fmt::format("www.{}/b/", zone.name), {}};
      schedule(when + milliseconds(uniform(0, 3000)), "a broad purge over the burst",
               [this, id = zone.name, broad] {
                 submit({ZonedItem{id, broad}}, Lane::normal, false);
               });
    }
  }
}

void Run::plan_faults() {
  if (shape_.clean_urls) return;
  for (const auto& zone : zones_) {
    cf_.faults().poison.insert("file:https://www." + zone.name + "/poison");
  }
  cf_.faults().poison.insert("tag:t-poison");
  const int episodes = uniform(0, 4);
  for (int e = 0; e < episodes; ++e) {
    const auto start = at_fraction(uniform(0.0, 0.8));
    const bool long_run = shape_.duration > hours(2);
    const auto length = long_run && chance(0.5) ? duration_cast<Clock::duration>(
                                                      minutes(uniform(60, 300)))
                                                : duration_cast<Clock::duration>(
                                                      seconds(uniform(30, 900)));
    const int kind = uniform(0, 6);
    const auto toggle = [this, kind](bool on) {
      auto& f = cf_.faults();
      switch (kind) {
        case 0: f.outage = on; break;
        case 1: f.server_errors = on ? 0.3 : 0; break;
        case 2: f.resets_before = f.resets_after = on ? 0.1 : 0; break;
        case 3: f.lost_answers = on ? 0.1 : 0; break;
        case 4: f.slow_answers = on ? 0.3 : 0; break;
        case 5: f.injected_429 = on ? 0.2 : 0; break;
        default: {
          const auto& token = shape_.accounts[0].token;
          if (on) {
            f.broken_tokens.insert(token);
          } else {
            f.broken_tokens.erase(token);
          }
        }
      }
    };
    static constexpr std::array kNames{"an outage",       "5xx answers",   "connection resets",
                                       "lost answers",    "slow answers",  "injected 429s",
                                       "a broken token"};
    schedule(start, fmt::format("{} begins", kNames[static_cast<std::size_t>(kind)]),
             [toggle] { toggle(true); });
    schedule(start + length, fmt::format("{} ends", kNames[static_cast<std::size_t>(kind)]),
             [toggle] { toggle(false); });
  }
}

void Run::plan_operator_events() {
  if (shape_.clean_urls) return;
  const int events = uniform(0, 4);
  for (int e = 0; e < events; ++e) {
    const auto when = at_fraction(uniform(0.05, 0.9));
    switch (uniform(0, 5)) {
      case 0:
        schedule(when, "kill -9", [this] { crash(); });
        break;
      case 1:
        schedule(when, "SIGTERM", [this] { sigterm(); });
        break;
      case 2: {
        const auto length = seconds(uniform(20, 300));
        schedule(when, "the disk fills", [this] {
          disk_full_ = true;
          disk_full_episodes_.emplace_back(clocks_.now(), Clock::time_point::max());
          if (store_ != nullptr) store_->set_disk_full(true);
        });
        schedule(when + length, "the disk has room again", [this] {
          disk_full_ = false;
          disk_full_episodes_.back().second = clocks_.now();
          if (store_ != nullptr) store_->set_disk_full(false);
        });
        break;
      }
      case 3:
        schedule(when, "retry-failed", [this] {
          if (phase_ != Phase::up) return;
          retried_failed_.push_back(clocks_.now());
          jobs_->run([now = clocks_.wall_ms()](Store& store) {
            std::int64_t moved = 0;
            for (std::int64_t step = 1; step > 0; moved += step) {
              step = store.retry_failed_step(now, kStepRows);
            }
            return moved;
          },
                     std::function<void(std::exception_ptr, std::int64_t)>(
                         [this](const std::exception_ptr& error, std::int64_t moved) {
                           if (!error && moved > 0 && dispatcher_) dispatcher_->wake();
                         }));
        });
        break;
      default: {
        // A reload: a plan changes (at Cloudflare too), an account is renamed, a zone moves to
        // another account, or an account is removed with its zones; a later reload puts the
        // original back.
        auto accounts = accounts_;
        auto zones = zones_;
        std::string why;
        switch (uniform(0, 3)) {
          case 0: {
            auto& account = accounts[uniform<std::size_t>(0, accounts.size() - 1)];
            account.plan = static_cast<Plan>(uniform(0, 3));
            why = fmt::format("{} moves to plan {}", account.name, to_string(account.plan));
            break;
          }
          case 1: {
            auto& account = accounts[uniform<std::size_t>(0, accounts.size() - 1)];
            account.name += "x";
            why = fmt::format("an account is renamed {}", account.name);
            break;
          }
          case 2:
            if (accounts.size() > 1 && zones.size() > 1) {
              auto& zone = zones[uniform<std::size_t>(0, zones.size() - 1)];
              zone.account = (zone.account + 1) % accounts.size();
              why = fmt::format("zone {} moves to {}", zone.name, accounts[zone.account].name);
              break;
            }
            [[fallthrough]];
          default:
            if (accounts.size() > 1) {
              why = fmt::format("{} is removed with its zones", accounts.back().name);
              accounts.pop_back();
            } else {
              why = "linger changes";
              shape_.linger_ms = shape_.linger_ms == 0 ? 500 : 0;
            }
        }
        schedule(when, "reload: " + why,
                 [this, accounts, zones, why] { reload(accounts, zones, why); });
        schedule(when + seconds(uniform(10, 600)), "reload: back to the original",
                 [this] { reload(shape_.accounts, shape_.zones, "back to the original"); });
      }
    }
  }
}

// ================================================================================================
// The daemon

void Run::set_cloudflare(const std::vector<AccountSpec>& accounts,
                         const std::vector<ZoneSpec>& zones) {
  for (const auto& account : accounts) cf_.set_account(account.token, account.plan);
  for (const auto& zone : zones) cf_.set_zone(zone.id, shape_.accounts[zone.account].token);
}

void Run::boot() {
  trace("boot");
  phase_ = Phase::booting;
  auto faulty = std::make_unique<FaultyStore>(open_sqlite_store(path_));
  faulty->set_disk_full(disk_full_);
  store_ = faulty.get();
  jobs_ = std::make_unique<InlineStoreJobs>(std::move(faulty), scheduler_, clocks_,
                                            shape_.commit_latency);
  // As purgeqd starts: the index escalation's share needs (none here), then whatever was in
  // flight is pending again, in steps, then the requests of the last hour pace the accounts.
  // The step holds itself only weakly: what keeps it alive is the store job or timer that runs it
  // next, so a crash that drops those frees it (a strong self-reference would leak).
  auto first = std::make_shared<std::function<void()>>();
  *first = [this, weak = std::weak_ptr<std::function<void()>>(first)] {
    const auto step = weak.lock();
    if (!step) return;
    jobs_->run(
        [](Store& store) {
          std::int64_t moved = store.recover_step(kStepRows);
          moved += store.recover_hook_runs_step(kStepRows);
          return moved;
        },
        std::function<void(std::exception_ptr, std::int64_t)>(
            [this, step](const std::exception_ptr& error, std::int64_t moved) {
              if (error || moved >= kStepRows) {
                // A full disk defers recovery; purgeqd retries every second.
                scheduler_.at(clocks_.now() + (error ? seconds(1) : Clock::duration::zero()),
                              [step] { (*step)(); });
                return;
              }
              const auto since = clocks_.wall_ms() - 3'600'000;
              jobs_->run([since](Store& store) { return store.recent_sends(since); },
                         std::function<void(std::exception_ptr, std::vector<SendRecord>)>(
                             [this, step](const std::exception_ptr& e,
                                          const std::vector<SendRecord>& sends) {
                               if (e) {
                                 scheduler_.at(clocks_.now() + seconds(1), [step] { (*step)(); });
                                 return;
                               }
                               dispatcher_ = std::make_unique<Dispatcher>(
                                   DeliveryEnv{clocks_, scheduler_, *jobs_, cf_, options_.seed},
                                   metrics_, config_);
                               dispatcher_->start(sends);
                               phase_ = Phase::up;
                               up_since_ = clocks_.now();
                               sendable_since_.clear();
                               trace(fmt::format("up: {} recent sends", sends.size()));
                             }));
            }));
  };
  (*first)();
}

void Run::crash() {
  if (phase_ == Phase::down) return;
  trace("crash: every object in memory is dropped, the database stays as it is");
  go_down(30, "restart after the crash");
}

void Run::go_down(int restart_within_s, const char* restart) {
  cf_.crash();
  scheduler_.clear();
  dispatcher_.reset();
  jobs_.reset();
  store_ = nullptr;
  phase_ = Phase::down;
  schedule(clocks_.now() - clocks_.start() + seconds(uniform(1, restart_within_s)), restart,
           [this] { boot(); });
}

void Run::sigterm() {
  if (phase_ != Phase::up) return;
  trace("SIGTERM: requests in flight are answered or left for the next start");
  phase_ = Phase::stopping;
  dispatcher_->shutdown(kShutdownDeadline, [this] {
    // Outside the daemon's own tasks: the stop is the run's next event.
    schedule(clocks_.now() - clocks_.start(), "stopped", [this] {
      jobs_->flush();  // the store finishes what it was given, as StoreWorker::stop does
      scheduler_.run_due();
      go_down(20, "start after the stop");
    });
  });
}

void Run::reload(std::vector<AccountSpec> accounts, std::vector<ZoneSpec> zones, std::string why) {
  accounts_ = std::move(accounts);
  zones_ = std::move(zones);
  config_ = make_config(accounts_, zones_);
  set_cloudflare(accounts_, zones_);
  if (phase_ == Phase::up) dispatcher_->reconfigure(config_);
  trace("reloaded: " + why);
}

void Run::submit(std::vector<ZonedItem> items, Lane lane, bool hooks) {
  if (phase_ != Phase::up || draining_) return;  // purgeqd is not listening: nothing acknowledged
  StoredIntent intent;
  intent.id = fmt::format("i{}", next_intent_++);
  intent.now_ms = clocks_.wall_ms();
  intent.lane = lane;
  intent.items = std::move(items);
  std::set<std::string> zone_ids;
  for (const auto& [zone_id, item] : intent.items) {
    zone_ids.insert(zone_id);
    if (item.kind != Kind::everything) continue;
    for (std::size_t z = 0; z < config_->zones.size(); ++z) {
      if (config_->zones[z].name == zone_id) intent.guarded.push_back(GuardedZone{z, zone_id});
    }
  }
  // An item of a zone the running config does not know is refused by intake.
  for (const auto& zone_id : zone_ids) {
    if (config_->find_zone(zone_id) == nullptr) return;
  }
  if (hooks) {
    intent.hooks.names = {"notify"};
    intent.hooks.zone_ids.assign(zone_ids.begin(), zone_ids.end());
  }
  auto shared = std::make_shared<StoredIntent>(std::move(intent));
  const std::int64_t submitted_ms = clocks_.wall_ms();
  jobs_->run(
      [shared, config = config_](Store& store) {
        return store_guarded(store, *config, *shared, Peer{1000, 1000, 1}, "sim");
      },
      std::function<void(std::exception_ptr, Stored)>(
          [this, shared, submitted_ms](const std::exception_ptr& error, const Stored& stored) {
            if (error || stored.refused) {
              trace(fmt::format("{} refused: {}", shared->id,
                                error ? log::describe(error) : std::string("everything too soon")));
              return;
            }
            acked_.push_back(Acked{shared->id, shared->items, clocks_.now(), clocks_.wall_ms(),
                                   submitted_ms});
            trace(fmt::format("{} acknowledged: {} items in {} ({} new targets)", shared->id,
                              shared->items.size(), to_string(shared->lane),
                              stored.result.created));
            if (dispatcher_ && wakes_delivery(stored.result)) dispatcher_->wake();
          }));
}

// ================================================================================================
// The invariants

void Run::check_liveness() {
  // A full disk stops takes (a take records its send before it leaves): the clock starts again
  // once the disk has room.
  if (phase_ != Phase::up || dispatcher_ == nullptr || disk_full_) {
    sendable_since_.clear();
    return;
  }
  const auto now = clocks_.now();
  const auto& counts = jobs_->snapshot()->counts;
  const auto bound = milliseconds(shape_.linger_ms) + kStallMargin;
  for (const auto& account : config_->accounts) {
    const auto* engine = dispatcher_->engine(account.name);
    if (engine == nullptr) continue;
    const auto& limits = account.limits;
    const bool room = !engine->auth_paused() && !engine->backoff_until(now) &&
                      !engine->limiter().paused_until(now) &&
                      engine->in_flight() < std::max(limits.max_in_flight, 1);
    std::string sendable;
    if (room) {
      for (const auto& zone : config_->zones) {
        if (zone.account != account.name) continue;
        for (int g = 0; g < kGroupCount && sendable.empty(); ++g) {
          const auto group = static_cast<Group>(g);
          for (const Lane lane : kLanes) {
            const auto pending = counts.pending_in(zone.name, group, lane);
            if (pending == 0) continue;
            // A broader purge pending in the zone holds it back (it goes first).
            bool held = false;
            for (int b = 0; b < kGroupCount; ++b) {
              const auto broader = static_cast<Group>(b);
              if (broader == group) continue;
              const bool holds =
                  broader == Group::everything ||
                  (broader == Group::host &&
                   (group == Group::file || group == Group::file_with_headers ||
                    group == Group::prefix)) ||
                  (broader == Group::prefix &&
                   (group == Group::file || group == Group::file_with_headers));
              held = held || (holds && counts.of(zone.name, broader, TargetState::pending) > 0);
            }
            if (held) continue;
            if (engine->limiter().wait_for(kind_of(group), 1, now) > Clock::duration::zero()) {
              continue;
            }
            sendable = fmt::format("zone {} {} in lane {} ({} pending)", zone.name,
                                   to_string(group), to_string(lane), pending);
            break;
          }
        }
        if (!sendable.empty()) break;
      }
    }
    if (sendable.empty()) {
      sendable_since_.erase(account.name);
      continue;
    }
    const auto since = sendable_since_.try_emplace(account.name, now).first->second;
    auto last = std::max(since, up_since_);
    if (const auto sent = cf_.last_request(account.token)) last = std::max(last, *sent);
    if (now - last > bound) {
      std::string queues;
      for (const auto& [zone_id, groups] : counts.lanes) {
        for (int g = 0; g < kGroupCount; ++g) {
          for (const Lane lane : kLanes) {
            if (const auto n = counts.pending_in(zone_id, static_cast<Group>(g), lane); n > 0) {
              queues += fmt::format(" {}/{}/{}={}", zone_id.substr(0, 6),
                                    to_string(static_cast<Group>(g)), to_string(lane), n);
            }
          }
        }
      }
      trace("pending:" + queues);
      throw Broken("liveness",
                   fmt::format("account {} could send {} for {:.1f} s (in flight {}, tokens url "
                               "{:.0f} flex {:.1f}) and sent nothing",
                               account.name, sendable,
                               std::chrono::duration<double>(now - last).count(),
                               engine->in_flight(), engine->limiter().url_tokens(now),
                               engine->limiter().flex_tokens(now)));
    }
  }
}

bool Run::quiescent() const {
  if (phase_ != Phase::up || dispatcher_ == nullptr) return false;
  const auto& counts = jobs_->snapshot()->counts;
  return counts.total(TargetState::pending) == 0 && counts.total(TargetState::in_flight) == 0 &&
         dispatcher_->requests_in_flight() == 0 && dispatcher_->steps_in_progress() == 0;
}

SimResult Run::go() {
  if (options_.trace) cf_.on_trace = [this](const std::string& line) { trace(line); };
  draw_shape();
  trace(fmt::format("{} accounts, {} zones, linger {} ms, give-up after {} s, {:.1f} h{}",
                    shape_.accounts.size(), shape_.zones.size(), shape_.linger_ms,
                    shape_.give_up_s, std::chrono::duration<double>(shape_.duration).count() / 3600,
                    shape_.clean_urls ? ", one clean burst of URLs" : ""));
  config_ = make_config(accounts_, zones_);
  set_cloudflare(accounts_, zones_);
  plan_workload();
  plan_faults();
  plan_operator_events();
  const auto end = shape_.duration;
  for (auto t = Clock::duration::zero(); t < end; t += kCheckEvery) {
    schedule(t, "", [this] { check_liveness(); });
  }
  schedule(end, "the workload, the faults and the operator are done: drain", [this] {
    draining_ = true;
    events_.clear();  // what was left of the script (a fault's end, a reload back)
    cf_.faults() = CloudflareFaults{};
    for (const auto& zone : shape_.zones) {
      cf_.faults().poison.insert("file:https://www." + zone.name + "/poison");
    }
    cf_.faults().poison.insert("tag:t-poison");
    disk_full_ = false;
    if (!disk_full_episodes_.empty() && disk_full_episodes_.back().second == Clock::time_point::max())
      disk_full_episodes_.back().second = clocks_.now();
    if (store_ != nullptr) store_->set_disk_full(false);
    reload(shape_.accounts, shape_.zones, "the original, for the drain");
    if (phase_ == Phase::down) boot();
    drain_deadline_ = clocks_.now() + seconds(shape_.give_up_s) + hours(1);
  });
  boot();
  SimResult result;
  std::uint64_t tasks = 0;
  try {
    while (!done_) {
      const auto next_task = scheduler_.next_due();
      const auto next_event =
          events_.empty() ? std::optional<Clock::time_point>() : events_.begin()->first;
      if (next_task && (!next_event || *next_task <= *next_event)) {
        scheduler_.step(*next_task);
        ++tasks;
      } else if (next_event) {
        clocks_.set(*next_event);
        auto event = std::move(events_.begin()->second);
        events_.erase(events_.begin());
        if (!event.what.empty()) trace(event.what);
        event.run();
      }
      if (draining_ && clocks_.now() >= drain_deadline_) {
        const auto& counts = jobs_->snapshot()->counts;
        throw Broken("liveness", fmt::format("not drained {:.1f} h after the workload: {} pending, "
                                             "{} in flight, {} requests in flight",
                                             std::chrono::duration<double>(
                                                 clocks_.now() - clocks_.start() - end)
                                                     .count() /
                                                 3600,
                                             counts.total(TargetState::pending),
                                             counts.total(TargetState::in_flight),
                                             dispatcher_ ? dispatcher_->requests_in_flight() : 0));
      }
      if (draining_ && events_.empty() && quiescent()) {
        final_checks();
        done_ = true;
      } else if (draining_ && events_.empty() && !next_task) {
        schedule(clocks_.now() - clocks_.start() + seconds(1), "", [] {});
      }
      // Nothing may spin: a simulated second holds at most so many of the daemon's tasks.
      const auto elapsed_s =
          std::chrono::duration<double>(clocks_.now() - clocks_.start()).count() + 60;
      if (static_cast<double>(tasks) > elapsed_s * 2000) {
        throw Broken("spin", fmt::format("{} tasks in {:.0f} simulated seconds", tasks, elapsed_s));
      }
      if (!cf_.violations().empty()) throw Broken("cloudflare contract", cf_.violations().front());
    }
  } catch (const Broken& broken) {
    result.ok = false;
    result.invariant = broken.invariant;
    result.detail = broken.detail;
  } catch (const std::exception& e) {
    result.ok = false;
    result.invariant = "exception";
    result.detail = e.what();
  }
  result.simulated_hours =
      std::chrono::duration<double>(clocks_.now() - clocks_.start()).count() / 3600;
  result.intents = acked_.size();
  result.requests = cf_.requests().size();
  return result;
}

void Run::final_checks() {
  if (dispatcher_->requests_in_flight() != 0 || jobs_->snapshot()->counts.total(
                                                    TargetState::in_flight) != 0) {
    throw Broken("in flight", "requests or rows still in flight once drained");
  }
  check_rows();
  check_delivery();
  check_waste();
  if (shape_.clean_urls) {
    std::size_t files = 0, urls = 0;
    for (const auto& request : cf_.requests()) {
      if (request.kind == "files") ++files;
    }
    for (const auto& acked : acked_) urls += acked.items.size();
    const auto cap =
        static_cast<std::size_t>(limits_for_plan(shape_.accounts[0].plan).max_urls_per_request);
    const auto bound = static_cast<std::size_t>(
        std::floor(1.02 * static_cast<double>((urls + cap - 1) / cap)));
    if (files > std::max<std::size_t>(bound, (urls + cap - 1) / cap)) {
      throw Broken("batching", fmt::format("{} requests for {} URLs at {} a request (at most {})",
                                           files, urls, cap, bound));
    }
  }
}

// The store's rows against its own bookkeeping, by scanning them.
void Run::check_rows() {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  const auto rows = [&](const std::string& sql) {
    std::vector<std::vector<std::int64_t>> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      const std::string reason = sqlite3_errmsg(db);
      sqlite3_close(db);
      throw std::runtime_error(reason + " in " + sql);
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::int64_t> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        row.push_back(sqlite3_column_int64(stmt, c));
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return out;
  };
  std::string broken;
  for (const auto& row : rows(
           "SELECT c.zone, c.grp, c.lane, c.state, c.n, (SELECT count(*) FROM targets t WHERE "
           "t.zone = c.zone AND t.grp = c.grp AND t.lane = c.lane AND t.state = c.state) "
           "FROM queue_counts c UNION ALL SELECT t.zone, t.grp, t.lane, t.state, 0, count(*) "
           "FROM targets t WHERE NOT EXISTS (SELECT 1 FROM queue_counts c WHERE c.zone = t.zone "
           "AND c.grp = t.grp AND c.lane = t.lane AND c.state = t.state) "
           "GROUP BY t.zone, t.grp, t.lane, t.state")) {
    if (row[4] != row[5] && broken.empty()) {
      broken = fmt::format("queue_counts (zone {}, group {}, lane {}, state {}) says {}, the rows "
                           "{}",
                           row[0], row[1], row[2], row[3], row[4], row[5]);
    }
  }
  // Each queue's head (lowest id) is its oldest row: the oldest-age gauge reads it.
  for (const auto& row : rows(
           "SELECT zone, grp, lane, min(created_ms), (SELECT created_ms FROM targets h WHERE "
           "h.zone = t.zone AND h.grp = t.grp AND h.lane = t.lane AND h.state = 0 ORDER BY h.id "
           "LIMIT 1) FROM targets t WHERE state = 0 GROUP BY zone, grp, lane")) {
    if (row[3] != row[4] && broken.empty()) {
      broken = fmt::format("queue (zone {}, group {}, lane {}): its head was accepted at {}, a "
                           "row behind it at {}",
                           row[0], row[1], row[2], row[4], row[3]);
    }
  }
  // Every intent with hooks: its runs are due (or run) once it is terminal.
  for (const auto& row : rows("SELECT w.intent, w.remaining, r.state FROM hook_waits w JOIN "
                              "hook_runs r ON r.intent = w.intent")) {
    if ((row[1] == 0) != (row[2] != 0) && broken.empty()) {
      broken = fmt::format("intent ref {}: {} items unfinished, hook run in state {}", row[0],
                           row[1], row[2]);
    }
  }
  sqlite3_close(db);
  if (!broken.empty()) throw Broken("bookkeeping", broken);
}

// Every acknowledged item was purged by a request that left after its acknowledgement, or ended
// failed with a reason; a give-up came no sooner than give_up_after from its acknowledgement.
void Run::check_delivery() {
  // What each purge named exactly, by (zone, kind, coverage key), and the broad purges (hosts,
  // prefixes, everything) of each zone: an item is purged by either, no earlier than its ack.
  // Cloudflare names a zone by its id, the queue by its name (docs/architecture.md).
  std::map<std::tuple<std::string, Kind, std::string>, std::vector<Clock::time_point>> exact;
  std::map<std::string, std::vector<const SimPurge*>> broad_in_zone;
  for (const auto& purge : cf_.purges()) {
    for (const auto& item : purge.items) {
      exact[{zone_name_of(purge.zone_id), item.kind, coverage_key(item)}].push_back(purge.at);
    }
    if (purge.kind == Kind::everything || purge.kind == Kind::host ||
        purge.kind == Kind::prefix) {
      broad_in_zone[zone_name_of(purge.zone_id)].push_back(&purge);
    }
  }
  for (auto& [key, times] : exact) std::sort(times.begin(), times.end());
  const auto purged_after = [&](const std::string& zone_id, const Item& item,
                                Clock::time_point acked_at) {
    if (const auto it = exact.find({zone_id, item.kind, coverage_key(item)}); it != exact.end()) {
      if (std::lower_bound(it->second.begin(), it->second.end(), acked_at) != it->second.end()) {
        return true;
      }
    }
    const auto broad = broad_in_zone.find(zone_id);
    if (broad == broad_in_zone.end()) return false;
    return std::any_of(broad->second.begin(), broad->second.end(), [&](const SimPurge* purge) {
      if (purge->at < acked_at) return false;
      if (purge->kind == Kind::everything) return true;
      return std::any_of(purge->items.begin(), purge->items.end(),
                         [&](const Item& done) { return covers(done, item); });
    });
  };
  auto& store = store_->inner();
  const auto give_up_ms = shape_.give_up_s * 1000;
  for (const auto& acked : acked_) {
    const auto status = store.intent_status(acked.id);
    if (!status) throw Broken("delivery", acked.id + " was acknowledged and is gone");
    if (!status->terminal()) {
      throw Broken("delivery", fmt::format("{} is {} after the drain", acked.id, status->status()));
    }
    std::multiset<std::pair<Kind, std::string>> failed;
    for (const auto& error : status->errors) {
      if (error.message.empty()) {
        throw Broken("delivery", fmt::format("{}: {} failed without a reason", acked.id,
                                             error.item));
      }
      failed.emplace(error.kind, error.item);
    }
    std::set<std::tuple<std::string, Kind, std::string>> seen;  // an item named twice is one
    for (const auto& [zone_id, item] : acked.items) {
      if (!seen.emplace(zone_id, item.kind, item.key()).second) continue;
      if (purged_after(zone_id, item, acked.at)) continue;
      const auto value = item.kind == Kind::everything ? std::string("*") : item.value;
      const auto it = failed.find({item.kind, item.kind == Kind::everything ? "" : item.value});
      if (it == failed.end()) {
        throw Broken("delivery", fmt::format("{}: {} {} was neither purged after its "
                                             "acknowledgement nor failed",
                                             acked.id, to_string(item.kind), value));
      }
      failed.erase(it);
    }
  }
  // Failed by the give-up sweep: not before give_up_after from the intent's submission. The
  // daemon's clock for an item starts when intake reads it, before the commit acknowledges it
  // (seed 2000316 gave up 17 ms sooner than its acknowledgement + give_up_after, and in time).
  std::map<std::string, std::int64_t> acked_ms;
  for (const auto& acked : acked_) acked_ms.emplace(acked.id, acked.submitted_ms);
  sqlite3* db = nullptr;
  sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT i.id, t.updated_ms, coalesce(t.value, t.key) FROM intents i JOIN "
                     "links l ON l.intent = i.ref JOIN targets t ON t.id = l.target WHERE "
                     "t.state = 3 AND t.error_code = 0",
                     -1, &stmt, nullptr);
  std::string early;
  while (early.empty() && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto it = acked_ms.find(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    if (it == acked_ms.end()) continue;
    const auto failed_ms = sqlite3_column_int64(stmt, 1);
    if (failed_ms < it->second + give_up_ms) {
      early = fmt::format("{}: {} given up {:.3f} s after its submission (give_up_after {} s)",
                          it->first, reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)),
                          static_cast<double>(failed_ms - it->second) / 1000, shape_.give_up_s);
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (!early.empty()) throw Broken("give-up", early);
}

// No request purges only what a broader purge the daemon already knew of was to purge: a host,
// prefix or purge-everything, acknowledged before the request left and sent (after the items'
// acknowledgements) with success, covers every item of it.
void Run::check_waste() {
  const auto slack = 5 * shape_.commit_latency + milliseconds(20);
  // The latest acknowledgement of each item no later than a moment.
  std::map<std::tuple<std::string, Kind, std::string>, std::vector<Clock::time_point>> acks;
  for (const auto& acked : acked_) {
    for (const auto& [zone_id, item] : acked.items) {
      acks[{zone_id_of(zone_id), item.kind, coverage_key(item)}].push_back(acked.at);
    }
  }
  for (auto& [key, times] : acks) std::sort(times.begin(), times.end());
  const auto latest_ack = [&](const std::string& zone_id, const Item& item,
                              Clock::time_point before) -> std::optional<Clock::time_point> {
    const auto it = acks.find({zone_id, item.kind, coverage_key(item)});
    if (it == acks.end()) return std::nullopt;
    const auto after = std::upper_bound(it->second.begin(), it->second.end(), before);
    if (after == it->second.begin()) return std::nullopt;
    return *std::prev(after);
  };
  const auto in_disk_full = [&](Clock::time_point at) {
    return std::any_of(disk_full_episodes_.begin(), disk_full_episodes_.end(), [&](const auto& e) {
      return at >= e.first - seconds(10) && at <= e.second + seconds(10);
    });
  };
  const auto& requests = cf_.requests();
  // When each item was named in a request: a retry of an item whose earlier request purged it
  // unbeknownst to the daemon (a lost answer) is not waste.
  std::map<std::tuple<std::string, Kind, std::string>, std::vector<Clock::time_point>> named;
  const Item everything{Kind::everything, "", {}};
  for (const auto& request : requests) {
    for (const auto& item : request.named) {
      named[{request.zone_id, item.kind, coverage_key(item)}].push_back(request.at);
    }
    if (request.kind == "purge_everything") {
      named[{request.zone_id, Kind::everything, coverage_key(everything)}].push_back(request.at);
    }
  }
  const auto named_between = [&](const std::string& zone_id, const Item& item,
                                 Clock::time_point from, Clock::time_point before) {
    const auto it = named.find({zone_id, item.kind, coverage_key(item)});
    if (it == named.end()) return false;
    const auto first = std::lower_bound(it->second.begin(), it->second.end(), from);
    return first != it->second.end() && *first < before;
  };
  std::map<std::string, std::vector<const SimPurge*>> broad_in_zone;
  for (const auto& purge : cf_.purges()) {
    if (purge.kind == Kind::tag || purge.kind == Kind::file) continue;
    if (requests[purge.request].status != 200) continue;  // the daemon learnt nothing
    broad_in_zone[purge.zone_id].push_back(&purge);
  }
  const std::vector<const SimPurge*> none;
  // An earlier request for the same broad purge, unanswered at `at`.
  const auto in_air_before = [&](const SimPurge& broad, Clock::time_point at) {
    for (std::size_t r = broad.request; r-- > 0;) {
      const auto& earlier = requests[r];
      if (earlier.at + std::chrono::hours(1) < at) break;
      if (earlier.zone_id != broad.zone_id || earlier.at >= at || earlier.answered <= at) continue;
      if (broad.kind == Kind::everything ? earlier.kind == "purge_everything"
                                         : std::any_of(earlier.named.begin(), earlier.named.end(),
                                                       [&](const Item& named_item) {
                                                         return named_item.kind == broad.kind &&
                                                                coverage_key(named_item) ==
                                                                    coverage_key(
                                                                        broad.items.front());
                                                       })) {
        return true;
      }
    }
    return false;
  };
  for (std::size_t r = 0; r < cf_.purges().size(); ++r) {
    const auto& wasted = cf_.purges()[r];
    if (wasted.kind == Kind::everything || wasted.items.empty()) continue;
    const auto zone_broad = broad_in_zone.find(wasted.zone_id);
    const auto& broads = zone_broad == broad_in_zone.end() ? none : zone_broad->second;
    bool all_covered = true;
    std::string by;
    for (const auto& item : wasted.items) {
      bool covered = false;
      for (const auto* broad_ptr : broads) {
        const auto& broad = *broad_ptr;
        if (&broad == &wasted) continue;
        if (broad.kind == wasted.kind) continue;  // the same queue: taken in order
        if (in_disk_full(broad.at)) continue;  // a cover step may have failed: then it goes twice
        // The broad purge was known to the daemon when `wasted` left...
        const Item& broad_item = broad.items.empty() ? Item{Kind::everything, "", {}}
                                                     : broad.items.front();
        const auto broad_ack = latest_ack(broad.zone_id, broad_item, broad.at);
        if (!broad_ack || *broad_ack > wasted.at - slack) continue;
        // ... and not already sent for that acknowledgement: `broad` is then a later one's.
        if (named_between(broad.zone_id, broad_item, *broad_ack, wasted.at)) continue;
        // ... and was not in the air then, from a request that left before the item's
        // acknowledgement: the daemon could not know that a retry would cover the item too.
        if (in_air_before(broad, wasted.at)) continue;
        // ... and was not a failed item that the operator's retry-failed queued again after
        // `wasted` left (seed 2015473: a failed host purge, then its prefix, then the retry).
        if (std::any_of(retried_failed_.begin(), retried_failed_.end(), [&](auto t) {
              return t + slack >= wasted.at && t <= broad.at;
            })) {
          continue;
        }
        // ... and left after the item's acknowledgement, with room for its take.
        const auto item_ack = latest_ack(wasted.zone_id, item, wasted.at);
        if (!item_ack || *item_ack > broad.at - slack) continue;
        if (named_between(wasted.zone_id, item, *item_ack, wasted.at)) continue;
        if (broad.kind != Kind::everything &&
            std::none_of(broad.items.begin(), broad.items.end(),
                         [&](const Item& b) { return covers(b, item); })) {
          continue;
        }
        covered = true;
        by = fmt::format("request {} ({} {})", broad.request, to_string(broad.kind),
                         broad_item.value);
        break;
      }
      if (!covered) {
        all_covered = false;
        break;
      }
    }
    if (all_covered) {
      throw Broken("waste", fmt::format("request {} ({} {} items, first {}) purged only what {} "
                                        "was to purge",
                                        wasted.request, to_string(wasted.kind),
                                        wasted.items.size(), wasted.items.front().value, by));
    }
  }
}

}  // namespace

SimResult simulate(const SimOptions& options) {
  Run run(options);
  return run.go();
}

}  // namespace purgeq::sim
