// The durable queue's contract: intents, their purge targets and each target's life. The queue
// lives in the store, not in memory: the dispatcher takes the head of one queue at a time, and
// every update is set-based and bounded, so no call's cost grows with the backlog.
//
// Zones are stored under their name (docs/architecture.md, "Zones by name"): the `zone_id`
// strings of the calls below are that key (older builds stored zone ids there; adopt_zone_step
// moves what they left to the name).
//
// `Store` is the interface the rest of the daemon depends on; sqlite_store.h is the embedded
// backend. A second backend (PostgreSQL) implements the same calls with the same meaning.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/item.h"
#include "model/lane.h"
#include "model/peer.h"
#include "model/zone_record.h"
#include "planner/batch_rules.h"
#include "planner/escalation.h"
#include "store/hook_runs.h"

namespace purgeq {

// Target states as stored; never renumber.
enum class TargetState : int {
  pending = 0,    // accepted, waiting for a request
  in_flight = 1,  // taken into a request whose outcome is not recorded (pending again on start)
  done = 2,       // a request naming or covering it succeeded
  failed = 3,     // refused by Cloudflare or given up; see error_code/error_message
};
inline constexpr int kStateCount = 4;

struct ZonedItem {
  std::string zone_id;
  Item item;
};

struct SubmitResult {
  std::size_t items = 0;    // items in the intent
  std::size_t created = 0;  // targets that did not merge into a pending twin
  std::size_t raised = 0;   // pending twins moved up to the intent's lane
};

struct ItemError {
  Kind kind = Kind::file;
  std::string item;
  int code = 0;
  std::string message;
};

// A broader purge that completed some of an intent's items in its own request (docs/delivery.md,
// "Coalescing"): a purge-everything, a host, a prefix, or a prefix an escalation added.
struct CoveredBy {
  Kind kind = Kind::prefix;
  std::string value;                       // the host or prefix; "" for everything
  std::int64_t items = 0;                  // the intent's items it completed
  std::optional<std::int64_t> escalation;  // the escalation that added it, if one did
};

struct IntentStatus {
  std::string id;
  std::int64_t created_ms = 0;
  Peer peer;
  Lane lane = Lane::normal;  // the lane it was accepted in (its items may ride higher: a twin)
  int total = 0, queued = 0, in_flight = 0, done = 0, failed = 0;
  std::vector<ItemError> errors;
  // Zone ids where some of its items are still pending or in flight (empty once terminal).
  std::vector<std::string> waiting_zones;
  // What completed its done items other than their own requests, most items first (at most
  // kCoveredByShown coverers).
  std::vector<CoveredBy> covered_by;
  // queued | in_flight | done | failed | partial
  [[nodiscard]] std::string_view status() const;
  [[nodiscard]] bool terminal() const { return done + failed == total; }
};

struct FailedTarget {
  std::int64_t id = 0;
  std::string zone_id;
  Kind kind = Kind::file;
  std::string item;
  int code = 0;
  std::string message;
  std::int64_t failed_ms = 0;
};

// Targets by zone id, queue group and state, kept by the store as targets change state (never
// counted by scanning), so status, metrics and backpressure are O(zones). `zones` sums the lanes;
// `lanes` splits the pending ones by lane (a queue is (zone, group, lane)).
struct QueueCounts {
  using PerGroup = std::array<std::array<std::int64_t, kStateCount>, kGroupCount>;
  using PendingPerLane = std::array<std::array<std::int64_t, kLaneCount>, kGroupCount>;
  std::map<std::string, PerGroup, std::less<>> zones;
  std::map<std::string, PendingPerLane, std::less<>> lanes;

  [[nodiscard]] std::int64_t of(std::string_view zone_id, Group group, TargetState state) const;
  // Pending targets of queue (zone, group, lane).
  [[nodiscard]] std::int64_t pending_in(std::string_view zone_id, Group group, Lane lane) const;
  // Pending targets of one lane, every zone and group together.
  [[nodiscard]] std::int64_t lane_total(Lane lane) const;
  [[nodiscard]] std::int64_t zone_total(std::string_view zone_id, TargetState state) const;
  [[nodiscard]] std::int64_t total(TargetState state) const;
};

// One target at the head of a queue, as a request body needs it.
struct QueuedTarget {
  std::int64_t id = 0;
  Item item;
  std::int64_t created_ms = 0;
};

// A request recently sent by an account, so a restart paces from where the last run stopped.
struct SendRecord {
  std::string account;
  Kind kind = Kind::file;
  std::int64_t at_ms = 0;
};

// What the dispatcher asks for when an account may send one request from queue
// (zone, group, lane).
struct TakeRequest {
  std::string zone_id;
  Group group = Group::file;
  Lane lane = Lane::normal;
  std::int64_t flight = 0;  // tags the taken rows; unique among the flights of every host
  BatchCaps caps;
  std::size_t budget = 0;  // at most this many members (what the account's limiter admits now)
  std::int64_t linger_ms = 0;
  std::int64_t now_ms = 0;
  // Recorded with the take when it yields a batch (record_send), so the send is durable before
  // the request leaves and a restart paces from it.
  std::string account;
  std::int64_t keep_sends_after_ms = 0;
};

// Either a batch (members non-empty, all now in_flight under the flight) or why not: the queue
// is empty, or its partial batch lingers for another `ready_in_ms`.
struct TakeResult {
  std::vector<QueuedTarget> members;  // in the body, oldest first
  std::int64_t riders = 0;            // pending twins and covered targets taken along
  // For broad members: coverage not finished within one step (a purge-everything over a large
  // backlog). The caller runs cover_step() until it returns 0 before sending. Rows accepted after
  // the take (id > watermark) are never covered by this flight.
  bool coverage_pending = false;
  std::int64_t watermark = 0;
  std::optional<std::int64_t> ready_in_ms;  // lingering: sendable this much later (or when full)
};

// How a flight ended, for settle().
enum class Settlement {
  done,      // every row of the flight is purged
  failed,    // every row failed with code and message
  retry,     // back to pending; members' attempts + 1 when count_attempt
  released,  // back to pending untouched (covered rows of a refused batch, a 429, an auth pause)
};

struct SettleRequest {
  std::int64_t flight = 0;
  Settlement outcome = Settlement::done;
  std::int64_t now_ms = 0;
  int code = 0;
  std::string message;
  bool count_attempt = false;
  std::vector<std::int64_t> member_ids;  // the body's rows: attempts and last error apply here
};

// Rows settled by one step, by kind, with the creation time of each (purge latency).
struct Settled {
  std::size_t rows = 0;
  std::array<std::size_t, kKindCount> by_kind{};
  std::vector<std::int64_t> created_ms;
  bool more = false;  // another step is needed
};

// Cost-based escalation (docs/delivery.md): look at the head of a zone's URL queue and add a
// prefix purge for each candidate prefix that meets the rule (planner/escalation.h).
struct EscalationRequest {
  std::string zone_id;
  Group group = Group::file;  // the URL queue whose head names the candidates
  Lane lane = Lane::normal;   // ... in this lane, which the prefix then goes in
  EscalationRule rule;
  std::int64_t now_ms = 0;
};

// One escalation: `prefix` is now pending in the zone's prefix queue, covering `urls` pending URLs
// (counted up to kEscalationPendingCap) among `known` known ones (pending included).
struct Escalation {
  std::int64_t id = 0;
  std::string prefix;
  std::int64_t urls = 0;
  std::int64_t known = 0;
};

// How many coverers an intent's status lists.
inline constexpr std::size_t kCoveredByShown = 16;

// Another daemon's transaction and this one's waited for each other (a deadlock, say on the
// queue counts both update): the server aborted this one. Nothing of it was kept; running the
// round again succeeds once the other has committed. The store worker does that.
class StoreConflictError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether a store job's failure is an `E` (the errors above each call for their own handling).
template <class E>
bool failed_with(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Several daemons on one database (docs/scale-out.md, "One sender per account"): what a daemon
// asks for on each claim round.
struct SenderRequest {
  std::vector<std::string> accounts;  // the Cloudflare accounts this daemon is configured with
  std::string node;                   // how status names this daemon (storage.node)
  std::int64_t now_ms = 0;
};

// Who sends for an account, as recorded by the host that last took its lock.
struct AccountSender {
  std::string account;
  std::int64_t host = 0;  // the host id (Store::host_id) that holds or last held it
  std::string node;
  std::int64_t since_ms = 0;
  bool live = false;  // some daemon holds the account's lock now
};

struct SenderClaims {
  // Accounts this daemon sends for now: the locks its session holds, whatever becomes of the
  // round's transaction (a rolled-back round still holds what it took).
  std::vector<std::string> sending;
  std::vector<AccountSender> senders;  // every recorded sender, for status
  std::int64_t reclaimed = 0;          // in-flight rows of departed hosts made pending again
};

// A take for an account this daemon does not send for (its lock went with a lost connection):
// nothing was taken; the dispatcher stops driving the account until a claim wins it back.
class NotSenderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The disk holding the store is full: the operation was not done (and is rolled back).
class StorageFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Transactions: the store worker wraps each group of jobs in one and each job in a savepoint.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual void savepoint() = 0;
  virtual void release_savepoint() = 0;
  virtual void rollback_to_savepoint() = 0;

  // Records an intent and links each item to a pending twin (same zone, kind and key) or a new
  // target in `lane`. In-flight twins are not reused: an item accepted after its request left is
  // purged again. A twin's give-up clock restarts (the promise counts from the latest
  // acknowledgement), and one in a lower lane is raised to `lane`: the new intent must not wait
  // behind that lane's backlog.
  virtual SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                                  std::string_view source, std::span<const ZonedItem> items,
                                  Lane lane = Lane::normal) = 0;

  // After a crash, in steps of at most `limit` rows: what was in flight is pending again (sent at
  // least once more). Returns the rows changed; 0 when done.
  virtual std::int64_t recover_step(std::int64_t limit) = 0;

  // The head of queue (zone, group, lane): at most one batch, cut by batch_rules.h, marked in
  // flight together with its pending twins and, for broad kinds, the first `cover_limit` rows it
  // covers.
  virtual TakeResult take(const TakeRequest& request, std::int64_t cover_limit) = 0;
  // Marks up to `limit` more rows that the flight's broad members cover; returns how many.
  virtual std::int64_t cover_step(std::string_view zone_id, std::int64_t flight,
                                  std::span<const QueuedTarget> members, std::int64_t watermark,
                                  std::int64_t limit) = 0;
  // Moves the given in-flight rows to another flight.
  virtual void move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) = 0;
  // Splits a refused batch: its `members` of flight `from` go to flight `to` with the twins taken
  // along with them (same kind and key), and, when `covered`, with the rows they cover (a half
  // keeps what its members will purge; a refused single member fails with its twins and leaves
  // what it covered with `from`, which goes back to the queue).
  virtual void split_flight(std::int64_t from, std::span<const std::int64_t> members,
                            std::int64_t to, bool covered) = 0;
  // Records a flight's outcome for at most `limit` of its rows.
  virtual Settled settle(const SettleRequest& request, std::int64_t limit) = 0;
  // Pending targets last acknowledged before `created_before_ms` fail with `reason_prefix` and
  // their last error; at most `limit` per step.
  virtual Settled give_up_step(std::int64_t created_before_ms, std::int64_t now_ms,
                               std::string_view reason_prefix, std::int64_t limit) = 0;
  // failed -> pending, queued again at the tail (new ids) with a fresh creation time and give-up
  // clock, at most `limit` per step; returns rows moved.
  virtual std::int64_t retry_failed_step(std::int64_t now_ms, std::int64_t limit) = 0;
  // Deletes, in steps, intents created before `before_ms` whose targets are all finished and the
  // finished targets no intent refers to. Returns intents deleted by this step; 0 when done.
  virtual std::int64_t prune_step(std::int64_t before_ms, std::int64_t limit) = 0;

  virtual void record_send(const SendRecord& send, std::int64_t keep_after_ms) = 0;
  virtual std::vector<SendRecord> recent_sends(std::int64_t after_ms) = 0;

  // Reads (also on a read-only connection).
  [[nodiscard]] virtual std::optional<IntentStatus> intent_status(std::string_view intent_id) = 0;
  [[nodiscard]] virtual std::vector<FailedTarget> failed_targets(std::size_t limit) = 0;
  [[nodiscard]] virtual QueueCounts queue_counts() = 0;
  // Creation time of the oldest pending target of each non-empty queue of `zone_id`.
  [[nodiscard]] virtual std::map<Group, std::int64_t> oldest_pending(std::string_view zone_id) = 0;
  // When a purge-everything of `zone_id` was last taken into a request (the latest such take,
  // retries included), surviving restarts and pruning; nullopt if never. One primary-key lookup.
  [[nodiscard]] virtual std::optional<std::int64_t> last_everything_ms(
      std::string_view zone_id) = 0;
  // Bytes the database occupies on disk (with its journal).
  [[nodiscard]] virtual std::int64_t size_bytes() = 0;
  // A write that must succeed for /healthz to say 200.
  virtual void probe_write(std::int64_t now_ms) = 0;

  // The disk filled up (a StorageFullError was thrown): free the space kept in reserve so that
  // outcomes and checkpoints can still be written, and shrink the journal. Outside transactions.
  virtual void relieve_full_disk() = 0;
  // While relieved: try to take the reserve back; true once it is back (space has returned).
  virtual bool restore_reserve() = 0;
  // True from a relief until the reserve is back: new intents are refused meanwhile.
  [[nodiscard]] virtual bool disk_full() const = 0;

  // Cost-based escalation: for each candidate of the zone's URL queue head that meets the rule,
  // in one transaction, a pending prefix target (which the coverage rules then complete the URLs
  // with) and a record of the escalation that intent statuses name. A prefix whose last
  // escalation in the zone is still pending, in flight, or failed (Cloudflare refused it) is not
  // escalated again. Bounded work: kEscalationHeadRows head rows, kEscalationCandidates prefixes,
  // each counted up to kEscalationPendingCap pending and finished_count_cap() finished URLs.
  virtual std::vector<Escalation> escalate(const EscalationRequest& request) = 0;
  // Whether finished URLs are indexed for escalation's `min_share` (a prefix's known URLs). The
  // index costs every taken row an insert, so it is kept only while some zone's escalation asks
  // for a share: the daemon says so at start and on reload. Turning it on builds it (a scan of
  // the store). Without it, an escalation that asks for a share escalates nothing.
  virtual void index_known_urls(bool wanted) = 0;

  // Completion hooks (store/hook_runs.h, docs/delivery.md). In the job that added the intent (so
  // in its transaction): one run per hook name, due as soon as none of its items is pending or
  // in flight any more. The store notices that by a per-intent count of unfinished items, kept as
  // targets change state, at a cost of the intents linked to the changed target.
  virtual void attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                            std::span<const std::string> hooks, std::int64_t now_ms) = 0;
  // After a crash: runs left running are due again (hooks run at least once). Returns the rows
  // changed by this step, at most `limit`.
  virtual std::int64_t recover_hook_runs_step(std::int64_t limit) = 0;
  // Marks at most `limit` runs of `hook` that are due by `now_ms` running (attempts + 1) and
  // returns them, with when the next remaining run of the hook is due. `limit` 0 only peeks.
  virtual HookClaim claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                                    std::int64_t limit) = 0;
  // A running run's outcome: succeeded, failed, or due again at `next_attempt_ms`.
  virtual void finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                               std::int64_t next_attempt_ms, std::string_view error,
                               std::int64_t now_ms) = 0;
  // The intent's items with target id > `after_target`, at most `limit`, in target id order.
  [[nodiscard]] virtual std::vector<HookItem> hook_items(std::int64_t intent_ref,
                                                         std::int64_t after_target,
                                                         std::int64_t limit) = 0;
  // The runs of one intent (as many as it has hooks).
  [[nodiscard]] virtual std::vector<HookRun> intent_hook_runs(std::string_view intent_id) = 0;
  // Runs by hook and state (no scan: kept by triggers).
  [[nodiscard]] virtual std::vector<HookCount> hook_counts() = 0;

  // Zones by name (docs/configuration.md): what Cloudflare said about each zone, kept for
  // outages. One record per zone name; a later one replaces it (on a shared store, a record is
  // kept only over an older one).
  virtual void record_zone(const ZoneRecord& record) = 0;
  [[nodiscard]] virtual std::vector<ZoneRecord> zone_records() = 0;
  // What an older purgeqd stored under `old_key` (a zone's id) becomes the zone's under `new_key`
  // (its name): the zone is renamed when `new_key` holds nothing yet; else, in steps, up to
  // `limit` of its pending targets move to `new_key` (their counts follow; finished and
  // in-flight ones keep their key, under which status still names the zone by its id), and the
  // last step carries its escalations and last purge-everything over. Returns the targets moved
  // by this step: `limit` means call again.
  virtual std::int64_t adopt_zone_step(std::string_view old_key, std::string_view new_key,
                                       std::int64_t limit) = 0;

  // Several daemons on one database. Whether this backend lets them share it: then each account
  // has one sender at a time, elected by claim_senders(), and a take is refused (NotSenderError)
  // for an account this daemon does not hold once it has claimed. False: one daemon per store,
  // sending for every account.
  [[nodiscard]] virtual bool shared() const = 0;
  // This daemon's id among every daemon that used the database (0 when not shared): it tags the
  // rows it takes (their lease) and leads its flight numbers, so they never collide across hosts.
  [[nodiscard]] virtual std::int64_t host_id() const = 0;
  // One claim round: keeps the accounts this daemon holds, tries to take the others' locks, and
  // makes pending again up to `reclaim_limit` rows in flight under daemons that are gone (their
  // connection ended: the lease is the connection), so their batches are sent again.
  virtual SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) = 0;
};

}  // namespace purgeq
