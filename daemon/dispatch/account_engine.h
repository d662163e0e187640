// One Cloudflare account's dispatch policy as a pure state machine: which queue to take from
// next, pacing, 429 pauses and Retry-After, backoff while the upstream fails, the auth pause and
// its probe, bisection of refused batches, and in-flight accounting. The clock is an argument and
// nothing here does I/O: the Dispatcher performs the actions it returns and reports back.
//
// Nothing is kept per queued item: the engine sees the queue through the store's counts and
// remembers, per queue (zone, group, lane), only when its lingering head becomes ready and whether
// its last batch was full, and per lane how many requests have passed it over (docs/delivery.md,
// "Priority lanes").
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.h"
#include "dispatch/verdict.h"
#include "io/backoff.h"
#include "limiter/account_limiter.h"
#include "store/store.h"

namespace purgeq {

// How long an account paused by an auth error waits before one probe request tries again.
inline constexpr std::chrono::seconds kAuthProbeInterval{60};

// How often a zone's URL queue is checked for escalation at most: each check reads a bounded
// number of rows (planner/escalation.h), and a backlog worth escalating does not vanish in a
// second.
inline constexpr std::chrono::seconds kEscalationCheckInterval{1};

// Priority lanes' guaranteed share (batching.lane_share_every): a lower lane with pending items is
// passed over by at most this many requests minus one; the next goes to it. 10: a busy normal or
// bulk lane gets at least one request in ten while higher lanes keep the account busy.
inline constexpr int kDefaultLaneShareEvery = 10;

// A request the engine let leave, until its answer is handled.
struct EngineFlight {
  std::int64_t id = 0;
  std::string zone_id;
  Group group = Group::file;
  Lane lane = Lane::normal;
  std::vector<QueuedTarget> members;
  bool probe = false;  // the one request an auth-paused account sends to test its token
  // A broad purge whose coverage is still being marked in steps (TakeResult::coverage_pending):
  // not sent yet, not charged yet, and the zone's narrower queues wait for it.
  bool covering = false;
};

// What to do next for an account.
struct TakeAction {  // take one batch from the head of this queue (store.h's take)
  std::string zone_id;
  Group group = Group::file;
  Lane lane = Lane::normal;
  // The lane this request is sent for: `lane`, or a higher one when this broad queue blocks a
  // higher lane's items (they wait for it, so it goes with their priority).
  Lane served = Lane::normal;
  std::int64_t flight = 0;
  std::size_t budget = 0;  // items the limiter admits now (files: URL tokens)
  // False when a partial head may leave without lingering: the queue's demand is below a batch
  // (its last batch was not full and none of its requests is out) and sending it now leaves the
  // account at least half of each budget it draws on, so no full batch is made to wait
  // (docs/delivery.md, "Adaptive linger"). batching.adaptive: false ignores it.
  bool linger = true;
};
struct SendAction {  // send this flight now (a half of a refused batch, already in flight)
  EngineFlight flight;
};
struct WaitAction {  // nothing sendable; ask again at `until` (nullopt: after the next event)
  std::optional<Clock::time_point> until;
};
using EngineAction = std::variant<TakeAction, SendAction, WaitAction>;

// How the store must record an answer.
struct FlightOutcome {
  Settlement settlement = Settlement::done;  // for every row still under the flight
  bool count_attempt = false;
  int code = 0;
  std::string message;
  // Rows split off the flight first (Store::split_flight): each half of a refused batch becomes
  // its own flight (moved, still in flight, with its twins and what it covers) and a single
  // refused member its own failed flight (with its twins; what it covered goes back to the
  // queue with the rest of the flight).
  struct SplitOff {
    std::int64_t flight = 0;
    std::vector<std::int64_t> ids;
    std::optional<Settlement> settle_now;  // failed: record at once; nullopt: stays in flight
  };
  std::vector<SplitOff> split_off;
};

class AccountEngine {
 public:
  using FlightIds = std::function<std::int64_t()>;

  AccountEngine(std::string name, const Limits& limits, Backoff backoff,
                std::vector<std::string> zone_ids, FlightIds flight_ids, const RecentSends& recent,
                Clock::time_point now, std::uint64_t seed = std::random_device{}());

  // The next action given the queue counts. At most one take is outstanding at a time, and none
  // while max_in_flight requests are out: call again after each report.
  EngineAction next(Clock::time_point now, const QueueCounts& counts);

  // The take of `action` returned. With members: a flight is created, the limiter charged, and
  // the flight is returned for sending; unless a pause began while the take was out, when its
  // flight must be released (drain_releases()). Without: remembers when the head becomes ready.
  std::optional<EngineFlight> on_taken(const TakeAction& action, TakeResult result,
                                       Clock::time_point now, const QueueCounts& counts);
  // The covering flight's coverage is all marked: it is charged now, as it leaves (a token charged
  // seconds before the request would let the limiter run ahead of Cloudflare's bucket).
  void on_covered(std::int64_t flight_id, Clock::time_point now);
  // Flights taken and not sent because a pause began meanwhile: put their rows back in the queue
  // (Settlement::released) and forget them here.
  [[nodiscard]] std::vector<std::int64_t> drain_releases() { return std::exchange(releases_, {}); }
  // The take of `action` was replaced by a cost-based escalation (a prefix purge now pending in
  // the zone holds the queue's URLs): nothing is known about the queue's head.
  void on_escalated(const TakeAction& action);
  // The take failed (storage error): try that queue again after a short pause.
  void on_take_failed(const TakeAction& action, Clock::time_point now);
  // An answer (or a transport failure) for a flight; what the store must record.
  FlightOutcome on_answer(std::int64_t flight_id, const Classified& answer, Clock::time_point now);
  // A flight that could not be sent (shutdown, zone gone): its rows go back to pending.
  FlightOutcome abandon(std::int64_t flight_id);

  // Cost-based escalation (docs/delivery.md): whether to ask the store for prefixes before taking
  // URLs from `action`'s queue, whose zone escalates with `horizon`. Yes when the queue holds URLs,
  // the account's URL budget binds (planner/escalation.h) and the zone was not checked within
  // kEscalationCheckInterval; a yes starts that interval.
  bool escalation_due(const TakeAction& action, Clock::duration horizon, Clock::time_point now,
                      const QueueCounts& counts);

  // This daemon stopped sending for the account (another daemon holds it now): the halves of
  // refused batches still waiting here are forgotten, and their (flight, group) returned, so
  // that their rows go back to the queue for the new sender (Settlement::released).
  std::vector<std::pair<std::int64_t, Group>> release_splits();
  // This daemon became the account's sender after another one (docs/scale-out.md): the buckets
  // start from what the account sent recently, whichever daemon sent it, as after a restart, and
  // what was remembered about its queues is forgotten (others changed them meanwhile).
  void resume_sending(const RecentSends& recent, Clock::time_point now);

  // A reload: new limits, zones and timings; the limiter keeps its tokens, pause and window; an
  // auth pause is lifted (a reload is how an operator says "the token is fixed").
  void reconfigure(const Limits& limits, Backoff backoff, std::vector<std::string> zone_ids,
                   Clock::time_point now);

  [[nodiscard]] const std::string& name() const { return name_; }
  // The account was renamed in the config (the same token: the same buckets at Cloudflare).
  void rename(std::string name) { name_ = std::move(name); }
  [[nodiscard]] int in_flight() const { return static_cast<int>(flights_.size()); }
  [[nodiscard]] std::size_t in_flight_items() const;
  [[nodiscard]] bool auth_paused() const { return auth_paused_; }
  [[nodiscard]] const std::string& pause_reason() const { return pause_reason_; }
  // When the current auth pause began (a failed probe does not restart it).
  [[nodiscard]] std::optional<Clock::time_point> paused_since() const;
  [[nodiscard]] std::optional<Clock::time_point> backoff_until(Clock::time_point now) const;
  [[nodiscard]] std::optional<Clock::time_point> next_probe() const;
  [[nodiscard]] int consecutive_failures() const { return consecutive_failures_; }
  // When the current run of transient failures began (nullopt while the upstream answers).
  [[nodiscard]] std::optional<Clock::time_point> failing_since() const;
  [[nodiscard]] std::size_t splits_waiting() const { return splits_.size(); }
  [[nodiscard]] const AccountLimiter& limiter() const { return limiter_; }
  // A request of the account's outside purging (a zone lookup): AccountLimiter::take_global.
  [[nodiscard]] Clock::duration take_api_request(Clock::time_point now) {
    return limiter_.take_global(now);
  }
  [[nodiscard]] bool taking() const { return taking_; }

  // Priority lanes: a non-empty lower lane gets every `every`-th request at the latest (>= 2;
  // smaller values are raised to 2).
  void set_lane_share_every(int every) { lane_share_every_ = std::max(every, 2); }
  // Requests a lane has been passed over by since it was last served (while it had items).
  [[nodiscard]] int passed_over(Lane lane) const {
    return passed_over_[static_cast<std::size_t>(lane)];
  }

 private:
  struct QueueMemo {
    std::int64_t pending_seen = 0;           // the queue's pending count when last taken from
    std::optional<Clock::time_point> ready;  // its partial head lingers until then
    bool empty = false;  // the take found nothing (the counts were stale, or the rows held)
    std::optional<Clock::time_point> retry;  // a take failed: not again before then, full or not
    // Its last batch was full: demand outruns a batch, so a partial head waits for companions
    // however much budget there is (a burst must not leave one small request per arrival).
    bool last_full = false;
  };
  struct QueueKey {
    std::string zone_id;
    Group group;
    Lane lane;
    friend auto operator<=>(const QueueKey&, const QueueKey&) = default;
  };

  [[nodiscard]] int max_in_flight() const;
  // Paused, backing off, or out of request slots: a batch taken now must wait.
  [[nodiscard]] bool must_hold(Clock::time_point now) const;
  [[nodiscard]] bool blocked_by_broader(const std::string& zone_id, Group group,
                                        const QueueCounts& counts) const;
  // A flight of `group` in `zone_id` is still being covered.
  [[nodiscard]] bool covering(const std::string& zone_id, Group group) const;
  // Some flight that will draw a flex token is still being covered.
  [[nodiscard]] bool covering_flex() const;
  FlightOutcome finish(std::int64_t flight_id);
  // Whether `count` items of `kind` may leave now as a partial batch (see TakeAction::linger).
  [[nodiscard]] bool room_for_partial(Kind kind, std::size_t count, Clock::time_point now) const;
  [[nodiscard]] bool in_flight_from(const QueueKey& key) const;
  // Tries queue `key` for a take; nullopt when it cannot send now (wake and bucket_blocked
  // updated). `rotate` is the zone's offset from the round-robin cursor.
  std::optional<TakeAction> try_queue(const QueueKey& key, Lane served, std::size_t rotate,
                                      Clock::time_point now, const QueueCounts& counts,
                                      std::optional<Clock::time_point>& wake,
                                      std::array<bool, 2>& bucket_blocked);
  // The order lanes are tried in: high, normal, bulk, except that the most passed-over lower
  // lane whose share is due goes first.
  [[nodiscard]] std::array<Lane, kLaneCount> lane_order(const QueueCounts& counts) const;
  [[nodiscard]] std::int64_t lane_pending(Lane lane, const QueueCounts& counts) const;
  // A request for lane `served` was taken: the lanes below it that had items were passed over.
  void note_served(Lane served, const QueueCounts& counts);

  std::string name_;
  Limits limits_;
  Backoff backoff_;
  std::vector<std::string> zone_ids_;
  FlightIds flight_ids_;
  AccountLimiter limiter_;
  std::mt19937_64 rng_;

  std::map<std::int64_t, EngineFlight> flights_;
  std::deque<EngineFlight> splits_;
  std::vector<std::int64_t> releases_;
  std::map<QueueKey, QueueMemo> memos_;
  std::size_t round_robin_ = 0;
  bool taking_ = false;
  int lane_share_every_ = kDefaultLaneShareEvery;
  std::array<int, kLaneCount> passed_over_{};

  bool auth_paused_ = false;
  bool probe_in_flight_ = false;
  Clock::time_point next_probe_{};
  Clock::time_point paused_since_{};
  std::string pause_reason_;

  int consecutive_failures_ = 0;
  Clock::time_point failing_since_{};
  Clock::time_point backoff_until_{};
  std::map<std::string, Clock::time_point> escalation_checked_;  // by zone name
};

}  // namespace purgeq
