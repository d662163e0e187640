// The per-account dispatch state machine (see the header). Every decision is
// O(lanes · zones · groups): counts come from the store's bookkeeping, never from the queued items.
#include "dispatch/account_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace purgeq {
namespace {

using std::chrono::milliseconds;

// Broad purges first: they cover most, and narrower queues of their zone wait for them.
constexpr std::array kGroupOrder{Group::everything, Group::host, Group::prefix,
                                 Group::tag,        Group::file, Group::file_with_headers};

// A storage error on a take: try that queue again after this long, not in a tight loop.
constexpr auto kTakeRetry = std::chrono::seconds(1);
// A take that found nothing while the counts said otherwise: try that queue again after this long
// even if its count has not changed. The rows may have been held by another daemon's intake, or
// moved by a step between the snapshot and the take while an intake queued as many again; a queue
// parked until its count changes might wait for a reload or the give-up.
constexpr auto kEmptyTakeRetry = std::chrono::seconds(2);

void earliest(std::optional<Clock::time_point>& wake, Clock::time_point t) {
  if (!wake || t < *wake) wake = t;
}

}  // namespace

AccountEngine::AccountEngine(std::string name, const Limits& limits, Backoff backoff,
                             std::vector<std::string> zone_ids, FlightIds flight_ids,
                             const RecentSends& recent, Clock::time_point now, std::uint64_t seed)
    : name_(std::move(name)),
      limits_(limits),
      backoff_(backoff),
      zone_ids_(std::move(zone_ids)),
      flight_ids_(std::move(flight_ids)),
      limiter_(limits, now, recent),
      rng_(seed) {}

std::vector<std::pair<std::int64_t, Group>> AccountEngine::release_splits() {
  std::vector<std::pair<std::int64_t, Group>> released;
  for (const auto& split : splits_) released.emplace_back(split.id, split.group);
  splits_.clear();
  return released;
}

void AccountEngine::resume_sending(const RecentSends& recent, Clock::time_point now) {
  limiter_ = AccountLimiter(limits_, now, recent);
  memos_.clear();
}

int AccountEngine::max_in_flight() const {
  // An auth-paused account sends one probe at a time and nothing beside it.
  return auth_paused_ ? 1 : std::max(limits_.max_in_flight, 1);
}

std::size_t AccountEngine::in_flight_items() const {
  std::size_t n = 0;
  for (const auto& [id, flight] : flights_) n += flight.members.size();
  return n;
}

std::optional<Clock::time_point> AccountEngine::backoff_until(Clock::time_point now) const {
  if (now < backoff_until_) return backoff_until_;
  return std::nullopt;
}

std::optional<Clock::time_point> AccountEngine::next_probe() const {
  if (!auth_paused_) return std::nullopt;
  return next_probe_;
}

bool AccountEngine::must_hold(Clock::time_point now) const {
  if (in_flight() >= max_in_flight()) return true;
  if (now < backoff_until_ || limiter_.paused_until(now)) return true;
  return auth_paused_ && (probe_in_flight_ || now < next_probe_);
}

namespace {

// Whether a pending `broader` purge of a zone holds that zone's `group` back (docs/delivery.md,
// "Coalescing": a covered item waits for its coverer).
bool holds_back(Group broader, Group group) {
  if (broader == group) return false;
  switch (broader) {
    case Group::everything:
      return true;
    case Group::host:
      return group == Group::file || group == Group::file_with_headers || group == Group::prefix;
    case Group::prefix:
      return group == Group::file || group == Group::file_with_headers;
    default:
      return false;
  }
}

}  // namespace

bool AccountEngine::blocked_by_broader(const std::string& zone_id, Group group,
                                       const QueueCounts& counts) const {
  // Pending, or taken and still being covered in steps: either way it has not purged yet, and
  // what it covers must not go out on its own meanwhile.
  return std::any_of(kGroupOrder.begin(), kGroupOrder.end(), [&](Group broader) {
    return holds_back(broader, group) &&
           (counts.of(zone_id, broader, TargetState::pending) > 0 || covering(zone_id, broader));
  });
}

bool AccountEngine::covering(const std::string& zone_id, Group group) const {
  return std::any_of(flights_.begin(), flights_.end(), [&](const auto& entry) {
    return entry.second.covering && entry.second.zone_id == zone_id && entry.second.group == group;
  });
}

bool AccountEngine::covering_flex() const {
  return std::any_of(flights_.begin(), flights_.end(), [](const auto& entry) {
    return entry.second.covering && kind_of(entry.second.group) != Kind::file;
  });
}

void AccountEngine::on_covered(std::int64_t flight_id, Clock::time_point now) {
  const auto it = flights_.find(flight_id);
  if (it == flights_.end() || !it->second.covering) return;
  it->second.covering = false;
  limiter_.charge(kind_of(it->second.group), it->second.members.size(), now);
}

EngineAction AccountEngine::next(Clock::time_point now, const QueueCounts& counts) {
  if (taking_ || in_flight() >= max_in_flight()) return WaitAction{};
  if (auth_paused_) {
    if (probe_in_flight_) return WaitAction{};
    if (now < next_probe_) return WaitAction{next_probe_};
  }
  if (now < backoff_until_) return WaitAction{backoff_until_};
  std::optional<Clock::time_point> wake;
  std::array<bool, 2> bucket_blocked{};  // [files, flex]: a refusal there blocks smaller asks too

  // Halves of refused batches go first, before any take of their bucket; while the first waits
  // for tokens, queues of the other bucket may still go.
  if (!splits_.empty()) {
    auto& split = splits_.front();
    const Kind kind = kind_of(split.group);
    const auto wait = limiter_.wait_for(kind, split.members.size(), now);
    if (wait == Clock::duration::zero()) {
      limiter_.charge(kind, split.members.size(), now);
      EngineFlight flight = std::move(split);
      splits_.pop_front();
      flight.probe = auth_paused_;
      if (flight.probe) probe_in_flight_ = true;
      flights_.emplace(flight.id, flight);
      return SendAction{std::move(flight)};
    }
    earliest(wake, now + wait);
    bucket_blocked[kind == Kind::file ? 0 : 1] = true;
  }

  // Lanes first (high before normal before bulk, with a share for the passed-over), then zones
  // in turns, so one zone's backlog does not starve the others of the account's budget.
  const std::size_t zones = zone_ids_.size();
  for (const Lane lane : lane_order(counts)) {
    for (std::size_t k = 0; k < zones; ++k) {
      const std::string& zone_id = zone_ids_[(round_robin_ + k) % zones];
      for (const Group group : kGroupOrder) {
        const QueueKey key{zone_id, group, lane};
        if (counts.pending_in(zone_id, group, lane) == 0) {
          memos_.erase(key);
          continue;
        }
        if (!blocked_by_broader(zone_id, group, counts)) {
          if (auto take = try_queue(key, lane, k, now, counts, wake, bucket_blocked)) return *take;
          continue;
        }
        // Its items wait for a broader purge of the zone, which may sit in a lower lane: that
        // one goes with this lane's priority, or a bulk host purge would hold high URLs back.
        for (const Group broader : kGroupOrder) {
          if (!holds_back(broader, group)) continue;
          for (const Lane other : kLanes) {
            if (other <= lane || counts.pending_in(zone_id, broader, other) == 0) continue;
            if (blocked_by_broader(zone_id, broader, counts)) continue;
            const QueueKey blocker{zone_id, broader, other};
            if (auto take = try_queue(blocker, lane, k, now, counts, wake, bucket_blocked)) {
              return *take;
            }
          }
        }
      }
    }
  }
  return WaitAction{wake};
}

std::optional<TakeAction> AccountEngine::try_queue(const QueueKey& key, Lane served,
                                                   std::size_t rotate, Clock::time_point now,
                                                   const QueueCounts& counts,
                                                   std::optional<Clock::time_point>& wake,
                                                   std::array<bool, 2>& bucket_blocked) {
  const auto pending = counts.pending_in(key.zone_id, key.group, key.lane);
  const Kind kind = kind_of(key.group);
  const BatchCaps caps{limits_.max_ops_per_request, limits_.max_urls_per_request};
  const std::size_t cap = cap_of(key.group, caps);
  if (auto it = memos_.find(key); it != memos_.end()) {
    const QueueMemo& memo = it->second;
    // New rows since a take found nothing: look at once; otherwise not before the retry.
    const bool news = memo.empty && memo.pending_seen != pending;
    if (!news && memo.retry && now < *memo.retry) {
      earliest(wake, *memo.retry);
      return std::nullopt;
    }
    // A lingering head stays so until its time or until enough arrived for a full batch.
    if (memo.ready && now < *memo.ready && static_cast<std::size_t>(pending) < cap) {
      earliest(wake, *memo.ready);
      return std::nullopt;
    }
  }
  bool& blocked = bucket_blocked[kind == Kind::file ? 0 : 1];
  // A covering flight's flex token is spent when it leaves: nothing else may take it meanwhile.
  if (kind != Kind::file && covering_flex()) blocked = true;
  if (blocked) return std::nullopt;
  const std::size_t want = std::min(static_cast<std::size_t>(pending), cap);
  const auto wait = limiter_.wait_for(kind, want, now);
  if (wait > Clock::duration::zero()) {
    // Lower lanes must not spend what this one waits for: the bucket is closed to them too.
    blocked = true;
    earliest(wake, now + wait);
    return std::nullopt;
  }
  const std::size_t zones = std::max<std::size_t>(zone_ids_.size(), 1);
  round_robin_ = (round_robin_ + rotate + 1) % zones;
  taking_ = true;
  auto& memo = memos_[key];
  memo.pending_seen = pending;
  // While a request of this queue is out, a partial head waits for its answer (or the linger)
  // rather than following it alone: arrivals faster than a round trip share one request.
  const bool linger =
      memo.last_full || !room_for_partial(kind, want, now) || (want < cap && in_flight_from(key));
  TakeAction action;
  action.zone_id = key.zone_id;
  action.group = key.group;
  action.lane = key.lane;
  action.served = served;
  action.flight = flight_ids_();
  action.budget = limiter_.budget(kind, cap, now);
  action.linger = linger;
  return action;
}

std::int64_t AccountEngine::lane_pending(Lane lane, const QueueCounts& counts) const {
  std::int64_t n = 0;
  for (const auto& zone_id : zone_ids_) {
    for (int g = 0; g < kGroupCount; ++g)
      n += counts.pending_in(zone_id, static_cast<Group>(g), lane);
  }
  return n;
}

std::array<Lane, kLaneCount> AccountEngine::lane_order(const QueueCounts& counts) const {
  std::array<Lane, kLaneCount> order = kLanes;
  std::optional<Lane> due;
  for (const Lane lane : kLanes) {
    const int passed = passed_over_[static_cast<std::size_t>(lane)];
    if (passed < lane_share_every_ - 1 || lane_pending(lane, counts) == 0) continue;
    if (!due || passed > passed_over_[static_cast<std::size_t>(*due)]) due = lane;
  }
  if (due) {
    // The due lane first, the others in their usual order after it.
    std::size_t at = 0;
    order[at++] = *due;
    for (const Lane lane : kLanes) {
      if (lane != *due) order[at++] = lane;
    }
  }
  return order;
}

void AccountEngine::note_served(Lane served, const QueueCounts& counts) {
  for (const Lane lane : kLanes) {
    auto& passed = passed_over_[static_cast<std::size_t>(lane)];
    if (lane == served || lane_pending(lane, counts) == 0) {
      passed = 0;  // an empty lane earns no credit, so it cannot jump the queue when work comes
    } else if (lane > served) {
      passed = std::min(passed + 1, lane_share_every_);
    }
  }
}

std::optional<EngineFlight> AccountEngine::on_taken(const TakeAction& action, TakeResult result,
                                                    Clock::time_point now,
                                                    const QueueCounts& counts) {
  taking_ = false;
  const QueueKey key{action.zone_id, action.group, action.lane};
  if (result.members.empty()) {
    auto& memo = memos_[key];
    memo.pending_seen = counts.pending_in(action.zone_id, action.group, action.lane);
    if (result.ready_in_ms) {
      memo.ready = now + milliseconds(*result.ready_in_ms);
      memo.empty = false;
      memo.retry.reset();
      // The answer the head lingered for may have come while the take was out: then it is not
      // held to the linger (a take the engine let go at once lingered by configuration; keep it).
      const auto pending = static_cast<std::size_t>(std::max<std::int64_t>(memo.pending_seen, 0));
      const BatchCaps caps{limits_.max_ops_per_request, limits_.max_urls_per_request};
      const std::size_t want = std::min(pending, cap_of(action.group, caps));
      if (action.linger && !memo.last_full && !in_flight_from(key) &&
          room_for_partial(kind_of(action.group), want, now)) {
        memo.ready.reset();
      }
    } else {
      memo.ready.reset();
      memo.empty = true;
      memo.retry = now + kEmptyTakeRetry;
    }
    return std::nullopt;
  }
  const Kind kind = kind_of(action.group);
  const BatchCaps caps{limits_.max_ops_per_request, limits_.max_urls_per_request};
  QueueMemo taken;  // what the queue's next head is judged by
  taken.last_full = result.members.size() >= cap_of(action.group, caps);
  memos_[key] = taken;
  EngineFlight flight;
  flight.id = action.flight;
  flight.zone_id = action.zone_id;
  flight.group = action.group;
  flight.lane = action.lane;
  flight.members = std::move(result.members);
  if (must_hold(now)) {
    // A pause began while the take was out (an answer came meanwhile): the batch goes back to
    // the queue rather than waiting in memory (its rows would show as in flight all through an
    // outage), and a later take sends it, cut afresh.
    releases_.push_back(flight.id);
    return std::nullopt;
  }
  flight.covering = result.coverage_pending;
  if (!flight.covering) limiter_.charge(kind, flight.members.size(), now);
  note_served(action.served, counts);
  // A broad purge sent for a higher lane also serves its own lane: its queue moved.
  passed_over_[static_cast<std::size_t>(action.lane)] = 0;
  flight.probe = auth_paused_;
  if (flight.probe) probe_in_flight_ = true;
  flights_.emplace(flight.id, flight);
  return flight;
}

void AccountEngine::on_escalated(const TakeAction& action) {
  taking_ = false;
  // The take was skipped for a prefix purge that now holds these URLs back; their queue did not
  // turn out empty, so nothing may be remembered about it (an "empty" memo would skip it until
  // its count changed, and a lower lane's count may never change while it waits).
  memos_.erase(QueueKey{action.zone_id, action.group, action.lane});
}

void AccountEngine::on_take_failed(const TakeAction& action, Clock::time_point now) {
  taking_ = false;
  auto& memo = memos_[QueueKey{action.zone_id, action.group, action.lane}];
  memo.retry = now + kTakeRetry;
  memo.ready.reset();
  memo.empty = false;
  memo.pending_seen = -1;
}

bool AccountEngine::in_flight_from(const QueueKey& key) const {
  return std::any_of(flights_.begin(), flights_.end(), [&](const auto& entry) {
    return entry.second.zone_id == key.zone_id && entry.second.group == key.group &&
           entry.second.lane == key.lane;
  });
}

bool AccountEngine::room_for_partial(Kind kind, std::size_t count, Clock::time_point now) const {
  // Half of each budget stays in reserve: a lone item costs one request (and its URL tokens), and
  // spending the reserve on them would make the next backlog's full batches wait. The sizes are
  // the limiter's (a full URL batch always fits its bucket; a request needs one flex token).
  if (kind == Kind::file) {
    const double size = std::max(limits_.urls_per_second,
                                 static_cast<double>(std::max(limits_.max_urls_per_request, 1)));
    if (limiter_.url_tokens(now) - static_cast<double>(count) < size / 2) return false;
  } else if (limiter_.flex_tokens(now) - 1 < std::max(limits_.burst, 1.0) / 2) {
    return false;
  }
  return limits_.global_requests <= 0 ||
         2 * (limiter_.global_used(now) + 1) <= limits_.global_requests;
}

FlightOutcome AccountEngine::finish(std::int64_t flight_id) {
  FlightOutcome outcome;
  if (auto it = flights_.find(flight_id); it != flights_.end()) {
    if (it->second.probe) probe_in_flight_ = false;
    // A head lingering only for this answer may go now; one lingering for budget or demand is
    // taken again and lingers on to the same deadline.
    if (auto memo = memos_.find(QueueKey{it->second.zone_id, it->second.group, it->second.lane});
        memo != memos_.end() && !memo->second.last_full) {
      memo->second.ready.reset();
    }
    flights_.erase(it);
  }
  return outcome;
}

FlightOutcome AccountEngine::abandon(std::int64_t flight_id) {
  FlightOutcome outcome = finish(flight_id);
  outcome.settlement = Settlement::released;
  return outcome;
}

FlightOutcome AccountEngine::on_answer(std::int64_t flight_id, const Classified& answer,
                                       Clock::time_point now) {
  const auto it = flights_.find(flight_id);
  if (it == flights_.end()) return abandon(flight_id);
  EngineFlight flight = it->second;
  FlightOutcome outcome = finish(flight_id);
  outcome.code = answer.code;
  outcome.message = answer.message;
  const Kind kind = kind_of(flight.group);

  // Any answer about the request itself proves the token works; 429s, 5xx and transport errors
  // prove nothing and leave an auth pause in place.
  const bool token_works = answer.verdict == Verdict::success ||
                           answer.verdict == Verdict::rejected ||
                           answer.verdict == Verdict::zone_error;
  if (auth_paused_ && token_works) {
    auth_paused_ = false;
    pause_reason_.clear();
  } else if (auth_paused_ && flight.probe && answer.verdict != Verdict::auth_error) {
    next_probe_ = now + kAuthProbeInterval;
  }

  switch (answer.verdict) {
    case Verdict::success:
      consecutive_failures_ = 0;
      outcome.settlement = Settlement::done;
      break;
    case Verdict::rate_limited: {
      std::optional<Clock::duration> retry_after;
      if (answer.retry_after) {
        // Clamped in seconds first: a huge value must not overflow the nanosecond clock.
        retry_after = std::chrono::duration_cast<Clock::duration>(
            std::clamp(*answer.retry_after, std::chrono::seconds(0), kMaxRetryAfter));
      }
      limiter_.on_rate_limited(kind, retry_after, now);
      outcome.settlement = Settlement::released;
      break;
    }
    case Verdict::auth_error:
      if (!auth_paused_) paused_since_ = now;
      auth_paused_ = true;
      next_probe_ = now + kAuthProbeInterval;
      pause_reason_ =
          fmt::format("HTTP {} code {}: {}", answer.status, answer.code, answer.message);
      outcome.settlement = Settlement::released;
      break;
    case Verdict::zone_error:
      consecutive_failures_ = 0;
      outcome.settlement = Settlement::failed;
      break;
    case Verdict::rejected:
      consecutive_failures_ = 0;
      // The rest of the flight (twins, covered targets) goes back to the queue; the members are
      // split off: a single one fails, a larger batch is bisected to find the refused item.
      outcome.settlement = Settlement::released;
      if (flight.members.size() <= 1) {
        FlightOutcome::SplitOff off;
        off.flight = flight_ids_();
        for (const auto& member : flight.members) off.ids.push_back(member.id);
        off.settle_now = Settlement::failed;
        outcome.split_off.push_back(std::move(off));
      } else {
        const auto half = static_cast<std::ptrdiff_t>(flight.members.size() / 2);
        for (int part = 0; part < 2; ++part) {
          EngineFlight split;
          split.id = flight_ids_();
          split.zone_id = flight.zone_id;
          split.group = flight.group;
          split.lane = flight.lane;
          const auto begin = flight.members.begin() + (part == 0 ? 0 : half);
          const auto end = part == 0 ? flight.members.begin() + half : flight.members.end();
          split.members.assign(std::make_move_iterator(begin), std::make_move_iterator(end));
          FlightOutcome::SplitOff off;
          off.flight = split.id;
          for (const auto& member : split.members) off.ids.push_back(member.id);
          outcome.split_off.push_back(std::move(off));
          splits_.push_back(std::move(split));
        }
      }
      break;
    case Verdict::transient: {
      if (consecutive_failures_++ == 0) failing_since_ = now;
      // The upstream is failing: the whole account waits, rather than sending the rest of a
      // backlog into the same failure one batch at a time.
      const auto delay = backoff_.equal_jitter_delay(consecutive_failures_, rng_);
      backoff_until_ = std::max(backoff_until_, now + delay);
      outcome.settlement = Settlement::retry;
      outcome.count_attempt = true;
      break;
    }
  }
  return outcome;
}

std::optional<Clock::time_point> AccountEngine::failing_since() const {
  if (consecutive_failures_ == 0) return std::nullopt;
  return failing_since_;
}

bool AccountEngine::escalation_due(const TakeAction& action, Clock::duration horizon,
                                   Clock::time_point now, const QueueCounts& counts) {
  if (action.group != Group::file && action.group != Group::file_with_headers) return false;
  if (const auto checked = escalation_checked_.find(action.zone_id);
      checked != escalation_checked_.end() && now - checked->second < kEscalationCheckInterval) {
    return false;
  }
  // The account's URL bucket serves all its zones: their pending URLs together are what it must
  // send.
  UrlBudget budget;
  for (const auto& zone_id : zone_ids_) {
    for (const Group group : {Group::file, Group::file_with_headers}) {
      budget.pending_urls += counts.of(zone_id, group, TargetState::pending);
    }
  }
  budget.url_tokens = limiter_.url_tokens(now);
  budget.flex_tokens = limiter_.flex_tokens(now);
  budget.urls_per_second = limits_.urls_per_second;
  budget.horizon_seconds = std::chrono::duration<double>(horizon).count();
  if (!url_budget_binding(budget)) return false;
  escalation_checked_[action.zone_id] = now;
  return true;
}

std::optional<Clock::time_point> AccountEngine::paused_since() const {
  if (!auth_paused_) return std::nullopt;
  return paused_since_;
}

void AccountEngine::reconfigure(const Limits& limits, Backoff backoff,
                                std::vector<std::string> zone_ids, Clock::time_point now) {
  limits_ = limits;
  backoff_ = backoff;
  zone_ids_ = std::move(zone_ids);
  limiter_.reconfigure(limits, now);
  memos_.clear();
  auth_paused_ = false;
  pause_reason_.clear();
  backoff_until_ = {};
  consecutive_failures_ = 0;
}

}  // namespace purgeq
