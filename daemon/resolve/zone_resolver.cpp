// The zone lookups' driver (see the header).
#include "resolve/zone_resolver.h"

#include <fmt/format.h>

#include <algorithm>

#include "observe/log.h"
#include "resolve/zone_answers.h"

namespace purgeq {
namespace {

// Between tries while Cloudflare cannot be reached: quick at first (a blip at start), at most
// every five minutes during an outage.
constexpr auto kRetryInitial = std::chrono::seconds(1);
constexpr auto kRetryMax = std::chrono::minutes(5);
// A lookup is small; waiting long for it only delays the start.
constexpr auto kLookupTimeout = std::chrono::seconds(10);

}  // namespace

ZoneResolver::ZoneResolver(ResolverEnv env, ResolverHooks hooks)
    : env_(env),
      hooks_(std::move(hooks)),
      backoff_(kRetryInitial, kRetryMax),
      rng_(env.seed != 0 ? env.seed : std::random_device{}()) {}

ZoneResolver::~ZoneResolver() {
  stop();
}

void ZoneResolver::stop() {
  stopped_ = true;
  for (auto& [name, job] : jobs_) {
    if (job.timer) env_.scheduler.cancel(*job.timer);
    job.timer.reset();
    job.generation = 0;
  }
}

LookupStatus& ZoneResolver::edit() {
  // Status readers hold the published copy; changes go to a fresh one.
  if (status_.use_count() > 1) status_ = std::make_shared<LookupStatus>(*status_);
  return *status_;
}

void ZoneResolver::publish() {
  if (hooks_.status_changed) hooks_.status_changed(status_);
}

void ZoneResolver::reconfigure(std::shared_ptr<const Config> config, bool refresh) {
  config_ = std::move(config);
  if (stopped_) return;
  const auto now = env_.clocks.now();
  const auto wall = env_.clocks.wall_ms();
  std::set<std::string, std::less<>> wanted;
  round_.clear();
  for (const auto& zone : config_->zones) {
    if (config_->dry_run || (!needs_lookup(*config_, zone) && zone.source == ZoneSource::config)) {
      continue;
    }
    wanted.insert(zone.name);
    if (!zone.resolved()) {
      round_.insert(zone.name);
      begin(zone.name, false, {}, now);
      continue;
    }
    const auto age =
        std::chrono::milliseconds(std::max<std::int64_t>(0, wall - zone.resolved_at_ms));
    const bool due = refresh || zone.plan.empty() || age >= kZoneRefreshInterval;
    if (due) round_.insert(zone.name);
    begin(
        zone.name, true, zone.id,
        due ? now : now + std::chrono::duration_cast<Clock::duration>(kZoneRefreshInterval - age));
  }
  // Zones the config no longer has: their jobs end, their troubles are forgotten.
  bool changed = false;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.timer) env_.scheduler.cancel(*it->second.timer);
    if (edit().zones.erase(it->first) > 0) changed = true;
    it = jobs_.erase(it);
  }
  for (auto it = status_->tokens.begin(); it != status_->tokens.end();) {
    const bool known = std::any_of(config_->accounts.begin(), config_->accounts.end(),
                                   [&](const Account& a) { return a.name == it->first; });
    if (known) {
      ++it;
    } else {
      it = edit().tokens.erase(it);
      changed = true;
    }
  }
  if (changed) publish();
  if (round_.empty() && hooks_.round_done) {
    env_.scheduler.post([this] {
      if (round_.empty() && hooks_.round_done) hooks_.round_done();
    });
  }
}

void ZoneResolver::begin(const std::string& name, bool by_id, std::string id,
                         Clock::time_point when) {
  Job& job = jobs_[name];
  if (job.timer) env_.scheduler.cancel(*job.timer);
  job.timer.reset();
  job.generation = next_generation_++;
  job.by_id = by_id;
  job.id = std::move(id);
  job.page = 1;
  job.inactive.reset();
  job.in_flight = false;
  const auto generation = job.generation;
  job.timer = env_.scheduler.at(when, [this, name, generation] {
    const auto it = jobs_.find(name);
    if (it == jobs_.end() || it->second.generation != generation) return;
    it->second.timer.reset();
    send(name, generation);
  });
}

HttpRequest ZoneResolver::request_to(const Account& account, std::string url) const {
  HttpRequest request;
  request.method = HttpRequest::Method::get;
  request.url = std::move(url);
  request.headers.push_back("Authorization: Bearer " + account.token);
  request.timeout =
      std::min(std::chrono::duration_cast<std::chrono::milliseconds>(config_->cloudflare.timeout),
               std::chrono::duration_cast<std::chrono::milliseconds>(kLookupTimeout));
  return request;
}

void ZoneResolver::send(const std::string& name, std::uint64_t generation) {
  if (stopped_) return;
  const Zone* zone = config_->find_zone(name);
  auto it = jobs_.find(name);
  if (zone == nullptr || it == jobs_.end() || it->second.generation != generation) return;
  Job& job = it->second;
  const Account& account = config_->accounts.at(zone->account_index);
  // Outside the purge budget, but inside the account's global window (Cloudflare counts every
  // request of the token there).
  if (hooks_.pace) {
    if (const auto wait = hooks_.pace(account.name); wait > Clock::duration::zero()) {
      job.timer = env_.scheduler.at(env_.clocks.now() + wait, [this, name, generation] {
        const auto found = jobs_.find(name);
        if (found == jobs_.end() || found->second.generation != generation) return;
        found->second.timer.reset();
        send(name, generation);
      });
      return;
    }
  }
  const std::string& api = config_->cloudflare.api_base;
  auto url = job.by_id ? zone_url(api, job.id) : zones_by_name_url(api, name, job.page);
  job.in_flight = true;
  env_.transport.post(
      request_to(account, std::move(url)),
      [this, name, generation](HttpResponse response) { answered(name, generation, response); });
}

void ZoneResolver::answered(const std::string& name, std::uint64_t generation,
                            const HttpResponse& response) {
  auto it = jobs_.find(name);
  if (stopped_ || it == jobs_.end() || it->second.generation != generation) return;
  Job& job = it->second;
  job.in_flight = false;
  const auto now_ms = env_.clocks.wall_ms();
  LookupAnswer answer = job.by_id ? read_zone(response, name, now_ms)
                                  : read_zones_page(response, name, job.page, now_ms);
  switch (answer.verdict) {
    case LookupVerdict::found:
      return succeed(name, answer.record);
    case LookupVerdict::next_page:
      if (!job.inactive && !answer.record.id.empty()) job.inactive = answer.record;
      job.page = answer.next_page;
      return send(name, generation);
    case LookupVerdict::not_found:
      if (job.inactive) return succeed(name, *job.inactive);
      if (job.by_id) {
        // The id no longer names this zone for the token (moved, re-added): by name again.
        log::warning("zone_lookup_by_name", "zone={} error={}", log::quote(name),
                     log::quote(answer.error));
        return begin(name, false, {}, env_.clocks.now());
      }
      return fail(name, true, answer.error);
    case LookupVerdict::refused:
      return fail(name, true, answer.error);
    case LookupVerdict::outage:
      return fail(name, false, answer.error);
  }
}

void ZoneResolver::succeed(const std::string& name, const ZoneRecord& record) {
  if (hooks_.counted) hooks_.counted("found");
  const Zone* zone = config_->find_zone(name);
  bool changed = edit().zones.erase(name) > 0;
  if (hooks_.resolved) hooks_.resolved(record);
  // The zone is looked up again in a day.
  begin(name, true, record.id, env_.clocks.now() + kZoneRefreshInterval);
  if (zone != nullptr) {
    const auto& account = config_->accounts.at(zone->account_index);
    const auto token = status_->tokens.find(account.name);
    if ((token == status_->tokens.end() || token->second == TokenState::unchecked) &&
        !verifying_.contains(account.name)) {
      verify_token(account.name, record.account_id, false);
    }
  }
  if (changed) publish();
  round_step(name);
}

void ZoneResolver::fail(const std::string& name, bool refused, const std::string& error) {
  if (hooks_.counted) hooks_.counted(refused ? "refused" : "outage");
  const Zone* zone = config_->find_zone(name);
  const auto now = env_.clocks.now();
  const auto wall = env_.clocks.wall_ms();
  LookupTrouble& trouble = edit().zones[name];
  if (trouble.failures == 0) trouble.since_ms = wall;
  ++trouble.failures;
  trouble.refused = refused;
  trouble.error = error;
  trouble.next_attempt_ms.reset();
  if (refused) {
    // Cloudflare said no: asking again changes nothing until the config or the token does (a
    // reload looks it up again).
    if (zone != nullptr && error.find("HTTP 401") != std::string::npos) {
      edit().tokens[config_->accounts.at(zone->account_index).name] = TokenState::refused;
    }
    log::error("zone_lookup_refused", "zone={} account={} error={}", log::quote(name),
               log::quote(zone != nullptr ? zone->account : ""), log::quote(error));
    auto& job = jobs_[name];
    if (job.timer) env_.scheduler.cancel(*job.timer);
    job.timer.reset();
  } else {
    const auto delay = backoff_.equal_jitter_delay(trouble.failures, rng_);
    trouble.next_attempt_ms = wall + delay.count();
    log::warning("zone_lookup_failed", "zone={} error={} retry_in_ms={}", log::quote(name),
                 log::quote(error), delay.count());
    const Job& job = jobs_[name];
    begin(name, job.by_id, job.id, now + delay);
  }
  publish();
  round_step(name);
}

void ZoneResolver::round_step(const std::string& name) {
  if (round_.erase(name) > 0 && round_.empty() && hooks_.round_done) hooks_.round_done();
}

void ZoneResolver::verify_token(const std::string& account_name, const std::string& account_id,
                                bool by_account) {
  const auto found = std::find_if(config_->accounts.begin(), config_->accounts.end(),
                                  [&](const Account& a) { return a.name == account_name; });
  if (stopped_ || found == config_->accounts.end()) return;
  if (hooks_.pace) {
    if (const auto wait = hooks_.pace(account_name); wait > Clock::duration::zero()) {
      verifying_.insert(account_name);
      env_.scheduler.at(env_.clocks.now() + wait, [this, account_name, account_id, by_account] {
        verifying_.erase(account_name);
        verify_token(account_name, account_id, by_account);
      });
      return;
    }
  }
  const std::string& api = config_->cloudflare.api_base;
  verifying_.insert(account_name);
  env_.transport.post(
      request_to(*found, by_account ? account_token_verify_url(api, account_id)
                                    : user_token_verify_url(api)),
      [this, account_name, account_id, by_account](HttpResponse response) {
        verifying_.erase(account_name);
        if (stopped_) return;
        const TokenAnswer answer = read_token_verify(response);
        if (answer.verdict == TokenVerdict::refused && !by_account && !account_id.empty()) {
          // An account-owned token is checked under its account.
          return verify_token(account_name, account_id, true);
        }
        if (answer.verdict == TokenVerdict::outage) return;  // checked with the next lookup
        const auto state =
            answer.verdict == TokenVerdict::active ? TokenState::verified : TokenState::refused;
        if (state == TokenState::refused) {
          log::error("token_refused", "account={} error={}", log::quote(account_name),
                     log::quote(answer.error));
        }
        edit().tokens[account_name] = state;
        publish();
      });
}

}  // namespace purgeq
