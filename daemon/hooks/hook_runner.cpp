#include "hooks/hook_runner.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "hooks/hookd_client.h"
#include "io/backoff.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::int64_t kRecoverRows = 1000;
// After a storage error, when the runner looks again.
constexpr auto kStorageRetry = std::chrono::seconds(1);

std::string_view item_state_name(int state) {
  switch (static_cast<TargetState>(state)) {
    case TargetState::done:
      return "done";
    case TargetState::failed:
      return "failed";
    case TargetState::pending:
    case TargetState::in_flight:
      break;
  }
  return "pending";  // reopened (a failed item retried) since the run was claimed
}

}  // namespace

struct HookRunner::Active {
  HookRun run;
  Hook hook;
  std::shared_ptr<HookProcess> process;  // command hooks
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

HookRunner::HookRunner(asio::io_context& io, StoreWorker& store, StoreWorker& reader,
                       Metrics& metrics, std::shared_ptr<const Config> config,
                       std::string hookd_socket)
    : io_(io),
      store_(store),
      reader_(reader),
      metrics_(metrics),
      config_(std::move(config)),
      hookd_socket_(std::move(hookd_socket)),
      http_(io),
      timer_(io),
      rng_(std::random_device{}()) {}

HookRunner::~HookRunner() {
  stop();
}

void HookRunner::start() {
  if (!config_->hooks.empty()) {
    log::info("hooks_runner", "command_hooks={}",
              hookd_socket_.empty() ? std::string("in-process")
                                    : log::quote("purgeq-hookd at " + hookd_socket_));
  }
  check_programs();
  recover_step();
}

// Not a config error (--check-config may run where the program is not installed), but worth a
// warning at start and reload rather than only failed attempts later.
void HookRunner::check_programs() const {
  for (const auto& hook : config_->hooks) {
    if (hook.command.empty() || ::access(hook.command.front().c_str(), X_OK) == 0) continue;
    const int error = errno;
    log::warning("hook_not_runnable", "hook={} program={} error={} note={}", hook.name,
                 log::quote(hook.command.front()), log::quote(std::strerror(error)),
                 log::quote("its runs fail until the program is there"));
  }
}

void HookRunner::recover_step() {
  store_.run([](Store& store) { return store.recover_hook_runs_step(kRecoverRows); },
             std::function<void(std::exception_ptr, std::int64_t)>(
                 [this](const std::exception_ptr& error, std::int64_t moved) {
                   if (stopping_) return;
                   if (error) {
                     log::warning("hooks_recovery_failed", "error={} note={}",
                                  log::quote(log::describe(error)), log::quote("will try again"));
                     timer_.expires_after(kStorageRetry);
                     timer_.async_wait([this](boost::system::error_code ec) {
                       if (!ec) recover_step();
                     });
                     return;
                   }
                   if (moved > 0) log::notice("hooks_recovered", "runs_due_again={}", moved);
                   if (moved >= kRecoverRows) return recover_step();
                   started_ = true;
                   poke();
                 }));
}

void HookRunner::reconfigure(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  check_programs();
  poke();
}

void HookRunner::poke() {
  if (!started_ || stopping_ || config_->hooks.empty()) return;
  if (claiming_) {
    again_ = true;
    return;
  }
  claim();
}

void HookRunner::claim() {
  claiming_ = true;
  again_ = false;
  std::vector<std::pair<std::string, std::int64_t>> wanted;
  for (const auto& hook : config_->hooks) {
    const auto it = running_by_hook_.find(hook.name);
    const int running = it == running_by_hook_.end() ? 0 : it->second;
    // A hook at capacity is only peeked at: it is claimed again when one of its runs ends.
    wanted.emplace_back(hook.name, std::max(0, hook.max_concurrent - running));
  }
  const auto now = wall_ms();
  using Claims = std::vector<std::pair<std::string, HookClaim>>;
  store_.run(
      [wanted, now](Store& store) {
        Claims claims;
        for (const auto& [name, limit] : wanted) {
          claims.emplace_back(name, store.claim_hook_runs(name, now, limit));
        }
        return claims;
      },
      std::function<void(std::exception_ptr, Claims)>(
          [this, wanted](const std::exception_ptr& error, Claims claims) {
            claiming_ = false;
            if (stopping_) return;
            if (error) {
              log::warning("storage_error", "op=claim_hook_runs error={}",
                           log::quote(log::describe(error)));
              arm_timer(wall_ms() + std::chrono::milliseconds(kStorageRetry).count());
              return;
            }
            std::optional<std::int64_t> next;
            for (std::size_t i = 0; i < claims.size(); ++i) {
              // Not a structured binding: lambdas below capture the name (clang 14 cannot).
              const std::string& name = claims[i].first;
              auto& claim = claims[i].second;
              const auto hook = std::find_if(config_->hooks.begin(), config_->hooks.end(),
                                             [&](const Hook& h) { return h.name == name; });
              for (auto& run : claim.runs) {
                if (hook == config_->hooks.end()) {
                  // Removed by a reload while claimed: leave it due for when it returns.
                  store_.run(
                      [ref = run.intent_ref, name, now = wall_ms()](Store& store) {
                        store.finish_hook_run(ref, name, HookState::due, now,
                                              "hook not in the config", now);
                        return true;
                      },
                      std::function<void(std::exception_ptr, bool)>(
                          [](const std::exception_ptr&, bool) {}));
                  continue;
                }
                launch(std::move(run), *hook);
              }
              // Only a hook with room left wakes the runner at its next due time.
              const bool room = static_cast<std::int64_t>(claim.runs.size()) < wanted[i].second;
              if (room && claim.next_due_ms && (!next || *claim.next_due_ms < *next)) {
                next = claim.next_due_ms;
              }
            }
            if (again_) return claim();
            arm_timer(next);
          }));
}

void HookRunner::arm_timer(std::optional<std::int64_t> next_due_ms) {
  if (!next_due_ms) {
    timer_.cancel();
    return;
  }
  const auto delay = std::max<std::int64_t>(0, *next_due_ms - wall_ms());
  timer_.expires_after(std::chrono::milliseconds(delay));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) poke();
  });
}

std::string HookRunner::zone_names(const HookRun& run) const {
  std::string names;
  for (const auto& id : run.zone_ids) {
    if (!names.empty()) names += ',';
    // Names since zones are keyed by name; ids in runs recorded by older builds.
    const Zone* zone = config_->find_zone(id);
    names += zone == nullptr ? id : zone->name;
  }
  return names;
}

std::string HookRunner::item_line(const HookItem& item) const {
  const Zone* zone = config_->find_zone(item.zone_id);
  json::object line{{"zone", zone == nullptr ? item.zone_id : zone->name},
                    {"kind", to_string(item.kind)},
                    {"item", item.value},
                    {"status", item_state_name(item.state)}};
  // A warmer must fetch each variant with its headers, or it warms the bare URL N times.
  if (!item.headers.empty()) {
    json::object headers;
    for (const auto& [name, value] : item.headers) headers[name] = value;
    line["headers"] = std::move(headers);
  }
  return json::serialize(line);
}

void HookRunner::launch(HookRun run, const Hook& hook) {
  const auto key = next_key_++;
  auto active = std::make_unique<Active>();
  active->run = std::move(run);
  active->hook = hook;
  ++running_by_hook_[hook.name];
  log::info("hook_started", "hook={} intent={} attempt={} status={}", hook.name,
            active->run.intent_id, active->run.attempts, active->run.intent_status());
  active_.emplace(key, std::move(active));
  if (hook.url.empty()) {
    run_command(key, hook);
  } else {
    run_http(key, hook);
  }
}

void HookRunner::run_command(std::uint64_t key, const Hook& hook) {
  auto& active = *active_.at(key);
  const auto& run = active.run;
  const std::string zones = zone_names(run);
  ProcessSpec spec;
  spec.argv = hook.command;
  spec.argv.push_back(run.intent_id);
  spec.argv.push_back(zones);
  spec.argv.emplace_back(run.intent_status());
  // A fixed environment: the daemon's own may hold a Cloudflare token (token_env).
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin",
              "LANG=C.UTF-8",
              fmt::format("PURGEQ_HOOK={}", hook.name),
              fmt::format("PURGEQ_INTENT={}", run.intent_id),
              fmt::format("PURGEQ_ZONES={}", zones),
              fmt::format("PURGEQ_STATUS={}", run.intent_status()),
              fmt::format("PURGEQ_LANE={}", to_string(run.lane)),
              fmt::format("PURGEQ_ATTEMPT={}", run.attempts),
              fmt::format("PURGEQ_ITEMS={}", run.total),
              fmt::format("PURGEQ_ITEMS_FAILED={}", run.failed)};
  spec.timeout = hook.timeout;
  // Items in pages from the reader, each page written before the next is read: memory stays at
  // one page however large the intent.
  struct Cursor {
    std::int64_t after = 0;
    bool done = false;
    bool failed = false;  // the items could not be read: the run fails whatever the exit
  };
  auto cursor = std::make_shared<Cursor>();
  StdinFeed feed = [this, ref = run.intent_ref, cursor](auto give) {
    if (cursor->done) return give(std::nullopt);
    const auto after = cursor->after;
    reader_.run(
        [ref, after](Store& store) { return store.hook_items(ref, after, kHookItemsPage); },
        std::function<void(std::exception_ptr, std::vector<HookItem>)>(
            [this, cursor, give](const std::exception_ptr& error, std::vector<HookItem> items) {
              if (error || items.empty()) {
                if (error) {
                  cursor->failed = true;
                  log::warning("storage_error", "op=hook_items error={}",
                               log::quote(log::describe(error)));
                }
                return give(std::nullopt);
              }
              cursor->after = items.back().target;
              cursor->done = static_cast<std::int64_t>(items.size()) < kHookItemsPage;
              std::string chunk;
              for (const auto& item : items) {
                chunk += item_line(item);
                chunk += '\n';
              }
              give(std::move(chunk));
            }));
  };
  auto done = [this, key, cursor](ProcessResult result) {
    const auto it = active_.find(key);
    if (it == active_.end()) return;
    if (!result.output.empty()) {
      log::info("hook_output", "hook={} intent={} output={}{}", it->second->hook.name,
                it->second->run.intent_id, log::quote(result.output),
                result.output_truncated ? " truncated=1" : "");
    }
    // A hook that saw only part of its items must not count as done with all of them.
    if (cursor->failed) return finished(key, false, "could not read the intent's items");
    finished(key, result.ok, result.error);
  };
  // Through the helper when there is one, never in-process instead: a helper that is down fails
  // the run (retried), it does not hand the hook the daemon's keys.
  active.process = hookd_socket_.empty()
                       ? HookProcess::start(io_, std::move(spec), std::move(feed), std::move(done))
                       : start_hook_via_hookd(io_, hookd_socket_, std::move(spec), std::move(feed),
                                              std::move(done));
}

void HookRunner::run_http(std::uint64_t key, const Hook& hook) {
  collect_http_items(key, hook, std::make_shared<std::string>(), 0, 0);
}

void HookRunner::collect_http_items(std::uint64_t key, const Hook& hook,
                                    std::shared_ptr<std::string> items, std::int64_t after,
                                    std::int64_t count) {
  const auto ref = active_.at(key)->run.intent_ref;
  const auto want = std::min(kHookItemsPage, kHookHttpMaxItems - count);
  reader_.run([ref, after, want](Store& store) { return store.hook_items(ref, after, want); },
              std::function<void(std::exception_ptr, std::vector<HookItem>)>(
                  [this, key, hook, items, count, want](const std::exception_ptr& error,
                                                        std::vector<HookItem> page) {
                    const auto it = active_.find(key);
                    if (it == active_.end() || stopping_) return;
                    if (error) return finished(key, false, "could not read the intent's items");
                    for (const auto& item : page) {
                      if (!items->empty()) *items += ',';
                      *items += item_line(item);
                    }
                    const auto total = count + static_cast<std::int64_t>(page.size());
                    const bool more = static_cast<std::int64_t>(page.size()) == want;
                    if (more && total < kHookHttpMaxItems) {
                      return collect_http_items(key, hook, items, page.back().target, total);
                    }
                    const auto& run = it->second->run;
                    json::array zones;
                    for (const auto& id : run.zone_ids) {
                      const Zone* zone = config_->find_zone(id);
                      zones.emplace_back(zone == nullptr ? id : zone->name);
                    }
                    json::object head{{"intent", run.intent_id},
                                      {"hook", hook.name},
                                      {"status", run.intent_status()},
                                      {"zones", std::move(zones)},
                                      {"priority", to_string(run.lane)},
                                      {"attempt", run.attempts},
                                      {"items_total", run.total},
                                      {"items_failed", run.failed},
                                      {"items_truncated", run.total > total}};
                    // The items, already serialised page by page, close the object.
                    std::string body = json::serialize(head);
                    body.pop_back();
                    body += ",\"items\":[";
                    body += *items;
                    body += "]}";
                    HttpRequest request;
                    request.url = hook.url;
                    request.headers = {"Content-Type: application/json"};
                    request.body = std::move(body);
                    request.timeout = hook.timeout;
                    http_.post(std::move(request), [this, key](HttpResponse response) {
                      if (stopping_) return;
                      if (!response.transport_error.empty()) {
                        return finished(key, false, response.transport_error);
                      }
                      if (response.status < 200 || response.status > 299) {
                        return finished(key, false, fmt::format("HTTP {}", response.status));
                      }
                      finished(key, true, {});
                    });
                  }));
}

void HookRunner::finished(std::uint64_t key, bool ok, const std::string& error) {
  const auto it = active_.find(key);
  if (it == active_.end()) return;
  auto active = std::move(it->second);
  active_.erase(it);
  const auto& run = active->run;
  const auto& hook = active->hook;
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - active->started).count();
  const auto now = wall_ms();
  HookState outcome = HookState::succeeded;
  std::int64_t next_ms = 0;
  if (!ok && run.attempts < hook.attempts) {
    outcome = HookState::due;
    const Backoff backoff(hook.retry_initial, hook.retry_max);
    next_ms = now + backoff.equal_jitter_delay(run.attempts, rng_).count();
  } else if (!ok) {
    outcome = HookState::failed;
  }
  const char* label = outcome == HookState::succeeded ? "succeeded"
                      : outcome == HookState::due     ? "retried"
                                                      : "failed";
  ++metrics_.hook_runs[{hook.name, label}];
  if (ok) {
    log::info("hook_succeeded", "hook={} intent={} attempt={} seconds={:.3f}", hook.name,
              run.intent_id, run.attempts, seconds);
  } else if (outcome == HookState::due) {
    log::warning("hook_attempt_failed",
                 "hook={} intent={} attempt={} of={} error={} retry_in_ms={}", hook.name,
                 run.intent_id, run.attempts, hook.attempts, log::quote(error), next_ms - now);
  } else {
    log::error("hook_failed", "hook={} intent={} attempts={} error={}", hook.name, run.intent_id,
               run.attempts, log::quote(error));
  }
  store_.run(
      [ref = run.intent_ref, name = hook.name, outcome, next_ms, error, now](Store& store) {
        store.finish_hook_run(ref, name, outcome, next_ms, error, now);
        return true;
      },
      std::function<void(std::exception_ptr, bool)>(
          [this, name = hook.name](const std::exception_ptr& failure, bool) {
            if (failure) {
              // The run stays running in the store: due again at the next start.
              log::warning("storage_error", "op=finish_hook_run hook={}", name);
            }
            if (auto slot = running_by_hook_.find(name); slot != running_by_hook_.end()) {
              if (--slot->second <= 0) running_by_hook_.erase(slot);
            }
            poke();
          }));
}

void HookRunner::stop() {
  if (stopping_) return;
  stopping_ = true;
  timer_.cancel();
  for (auto& [key, active] : active_) {
    if (active->process) active->process->kill_all();
  }
  if (!active_.empty()) {
    log::notice("hooks_interrupted", "runs={} note={}", active_.size(),
                log::quote("they run again at the next start"));
  }
  active_.clear();
  http_.cancel_all();
}

}  // namespace purgeq
