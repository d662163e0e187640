// The queue's algorithms over a backend's statements (see the header). Transactions are the
// caller's (StoreWorker's), so that many submissions share one commit.
#include "store/queue_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "planner/coverage.h"
#include "store/row_text.h"

namespace purgeq {
namespace {

// Rows of a settle, give-up or retry (kind, created_ms) summed for the caller.
Settled collect(Rows rows, std::int64_t limit) {
  Settled settled;
  while (rows.next()) {
    if (const auto kind = rows.as<Kind>(0, kKindCount)) {
      ++settled.by_kind[static_cast<std::size_t>(*kind)];
    }
    settled.created_ms.push_back(rows.integer(1));
    ++settled.rows;
  }
  settled.more = static_cast<std::int64_t>(settled.rows) >= limit;
  return settled;
}

Lane lane_or_normal(const Rows& rows, int column) {
  return rows.as<Lane>(column, kLaneCount).value_or(Lane::normal);
}

// One item of an intent on its way into the queue.
struct IntakeRow {
  std::int64_t zone = 0;
  Group group = Group::file;
  Kind kind = Kind::file;
  std::string key;
  std::int64_t target = 0;
};
using Identity = std::tuple<std::int64_t, Kind, std::string>;  // zone, kind, key

class QueueStore final : public Store {
 public:
  explicit QueueStore(std::unique_ptr<StoreBackend> backend) : db_(std::move(backend)) {}

  void begin() override { db_->begin(); }
  void commit() override { db_->commit(); }
  // A rollback may undo zones inserted in it: forget the cached refs (they are read again).
  void rollback() override {
    zone_refs_.clear();
    db_->rollback();
  }
  void savepoint() override { db_->savepoint(); }
  void release_savepoint() override { db_->release_savepoint(); }
  void rollback_to_savepoint() override {
    zone_refs_.clear();
    db_->rollback_to_savepoint();
  }

  SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                          std::string_view source, std::span<const ZonedItem> items,
                          Lane lane) override;
  std::int64_t recover_step(std::int64_t limit) override { return db_->recover_step(limit); }
  TakeResult take(const TakeRequest& request, std::int64_t cover_limit) override;
  std::int64_t cover_step(std::string_view zone_id, std::int64_t flight,
                          std::span<const QueuedTarget> members, std::int64_t watermark,
                          std::int64_t limit) override {
    const auto zone = zone_ref(zone_id, false);
    return zone ? cover(*zone, flight, members, watermark, limit) : 0;
  }
  void move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) override {
    db_->exec(Stmt::flight_move,
              Params().add(flight).add(IdList(ids.begin(), ids.end())).add(db_->host_id()));
  }
  void split_flight(std::int64_t from, std::span<const std::int64_t> members, std::int64_t to,
                    bool covered) override {
    db_->exec(Stmt::flight_split, Params()
                                      .add(from)
                                      .add(to)
                                      .add(IdList(members.begin(), members.end()))
                                      .add(covered)
                                      .add(db_->host_id()));
  }
  Settled settle(const SettleRequest& request, std::int64_t limit) override;
  Settled give_up_step(std::int64_t created_before_ms, std::int64_t now_ms,
                       std::string_view reason_prefix, std::int64_t limit) override {
    db_->note(QueueChange::progressed);
    return collect(
        db_->query(Stmt::give_up,
                   Params().add(created_before_ms).add(now_ms).add(reason_prefix).add(limit)),
        limit);
  }
  std::int64_t retry_failed_step(std::int64_t now_ms, std::int64_t limit) override;
  std::int64_t prune_step(std::int64_t before_ms, std::int64_t limit) override;
  void record_send(const SendRecord& send, std::int64_t keep_after_ms) override {
    db_->exec(Stmt::send_insert, Params().add(send.account).add(send.kind).add(send.at_ms));
    // Only this account's: another account's global window may be longer.
    db_->exec(Stmt::sends_trim, Params().add(keep_after_ms).add(send.account));
  }
  std::vector<SendRecord> recent_sends(std::int64_t after_ms) override;

  std::optional<IntentStatus> intent_status(std::string_view intent_id) override;
  std::vector<FailedTarget> failed_targets(std::size_t limit) override;
  QueueCounts queue_counts() override;
  std::map<Group, std::int64_t> oldest_pending(std::string_view zone_id) override;
  std::optional<std::int64_t> last_everything_ms(std::string_view zone_id) override {
    const auto zone = zone_ref(zone_id, false);
    if (!zone) return std::nullopt;
    // The purge-everything guard reads this and accepts the intent in one transaction; another
    // daemon's take of a purge-everything must not slip in between (see take()).
    db_->lock_everything(*zone);
    return db_->scalar(Stmt::everything_last, Params().add(*zone));
  }
  std::int64_t size_bytes() override { return db_->size_bytes(); }
  void probe_write(std::int64_t now_ms) override {
    db_->exec(Stmt::health_probe, Params().add(now_ms));
  }
  void relieve_full_disk() override { db_->relieve_full_disk(); }
  bool restore_reserve() override { return db_->restore_reserve(); }
  [[nodiscard]] bool disk_full() const override { return db_->disk_full(); }

  std::vector<Escalation> escalate(const EscalationRequest& request) override;
  void index_known_urls(bool wanted) override { db_->index_known_urls(wanted); }

  void attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                    std::span<const std::string> hooks, std::int64_t now_ms) override;
  std::int64_t recover_hook_runs_step(std::int64_t limit) override {
    return db_->recover_hook_runs_step(limit);
  }
  HookClaim claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                            std::int64_t limit) override;
  void finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                       std::int64_t next_attempt_ms, std::string_view error,
                       std::int64_t now_ms) override {
    db_->exec(Stmt::hook_run_finish,
              Params()
                  .add(intent_ref)
                  .add(hook)
                  .add(outcome)
                  .add(next_attempt_ms)
                  .add(error.empty() ? std::nullopt : std::optional<std::string_view>(error))
                  .add(now_ms)
                  .add(db_->host_id()));
  }
  std::vector<HookItem> hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                   std::int64_t limit) override;
  std::vector<HookRun> intent_hook_runs(std::string_view intent_id) override;
  std::vector<HookCount> hook_counts() override;

  void record_zone(const ZoneRecord& record) override {
    db_->exec(Stmt::zone_record_write, Params()
                                           .add(record.name)
                                           .add(record.id)
                                           .add(record.account_id)
                                           .add(record.plan)
                                           .add(record.resolved_at_ms));
  }
  std::vector<ZoneRecord> zone_records() override;
  std::int64_t adopt_zone_step(std::string_view old_key, std::string_view new_key,
                               std::int64_t limit) override;

  [[nodiscard]] bool shared() const override { return db_->shared(); }
  [[nodiscard]] std::int64_t host_id() const override { return db_->host_id(); }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) override {
    return db_->claim_senders(request, reclaim_limit);
  }

 private:
  // The integer a zone id is stored as; created on first use unless `create` is false.
  std::optional<std::int64_t> zone_ref(std::string_view zone_id, bool create);
  // n fresh target ids above every id taken, ascending (a new row or a retried one goes to the
  // tail of its queue).
  IdList draw_ids(std::size_t n);
  // Links each row of `rows` to a pending twin (same zone, kind and key) or to a new target in
  // `lane`; returns how many targets it created.
  std::size_t queue_rows(std::vector<IntakeRow>& rows, std::span<const ZonedItem> items,
                         std::int64_t now_ms, Lane lane, std::size_t& raised);
  // Marks up to `limit` pending rows that `members` cover (ids <= watermark) as in flight.
  std::int64_t cover(std::int64_t zone, std::int64_t flight, std::span<const QueuedTarget> members,
                     std::int64_t watermark, std::int64_t limit);
  std::vector<CoveredBy> covered_by(std::int64_t intent_ref);
  // Pending URLs (up to `cap`), or finished and in-flight ones (`finished`), under `prefix`.
  std::int64_t count_under(std::int64_t zone, const Item& prefix, bool finished, std::int64_t cap);
  // A pending target of (zone, kind, key), or a new one in `lane` (counted).
  std::int64_t pending_target(std::int64_t zone, const Item& item, std::int64_t now_ms, Lane lane);

  std::unique_ptr<StoreBackend> db_;
  std::map<std::string, std::int64_t, std::less<>> zone_refs_;
};

std::optional<std::int64_t> QueueStore::zone_ref(std::string_view zone_id, bool create) {
  if (auto it = zone_refs_.find(zone_id); it != zone_refs_.end()) return it->second;
  if (const auto ref = db_->scalar(Stmt::zone_find, Params().add(zone_id))) {
    zone_refs_.emplace(std::string(zone_id), *ref);
    return ref;
  }
  if (!create) return std::nullopt;
  // Not cached: the insert may still be rolled back with its transaction.
  return db_->scalar(Stmt::zone_insert, Params().add(zone_id));
}

IdList QueueStore::draw_ids(std::size_t n) {
  IdList ids;
  ids.reserve(n);
  {
    auto rows = db_->query(Stmt::ids_draw, Params().add(static_cast<std::int64_t>(n)));
    while (rows.next()) ids.push_back(rows.integer(0));
  }
  std::sort(ids.begin(), ids.end());
  if (ids.size() != n) throw std::runtime_error("the store drew too few target ids");
  return ids;
}

std::vector<ZoneRecord> QueueStore::zone_records() {
  std::vector<ZoneRecord> records;
  auto rows = db_->query(Stmt::zone_records_read, Params());
  while (rows.next()) {
    records.push_back(
        ZoneRecord{rows.text(0), rows.text(1), rows.text(2), rows.text(3), rows.integer(4)});
  }
  return records;
}

std::int64_t QueueStore::adopt_zone_step(std::string_view old_key, std::string_view new_key,
                                         std::int64_t limit) {
  if (old_key == new_key) return 0;
  const auto from = zone_ref(old_key, false);
  if (!from) return 0;
  const auto to = zone_ref(new_key, false);
  if (!to) {
    // The common case, and O(1): the zone's row takes the new key, its targets with it.
    db_->exec(Stmt::zone_rename, Params().add(old_key).add(new_key));
    zone_refs_.clear();
    db_->note(QueueChange::queued);
    return 0;
  }
  // Both keys hold targets (items were accepted under the name before the id was known): the
  // old key's pending targets join the name's queues, a bounded step at a time.
  std::int64_t moved = 0;
  {
    auto rows = db_->query(Stmt::zone_move_pending, Params().add(*from).add(*to).add(limit));
    while (rows.next()) ++moved;
  }
  if (moved > 0) db_->note(QueueChange::queued);
  if (moved < limit) {
    db_->exec(Stmt::escalations_rezone, Params().add(*from).add(*to));
    db_->exec(Stmt::everything_merge, Params().add(*from).add(*to));
  }
  return moved;
}

SubmitResult QueueStore::add_intent(std::string_view intent_id, std::int64_t now_ms,
                                    const Peer& peer, std::string_view source,
                                    std::span<const ZonedItem> items, Lane lane) {
  db_->check_accepting();
  SubmitResult result;
  result.items = items.size();
  const auto intent_ref =
      db_->scalar(Stmt::intent_insert, Params()
                                           .add(intent_id)
                                           .add(now_ms)
                                           .add(std::int64_t{peer.uid})
                                           .add(std::int64_t{peer.gid})
                                           .add(std::int64_t{peer.pid})
                                           .add(source)
                                           .add(static_cast<std::int64_t>(items.size()))
                                           .add(lane));
  if (!intent_ref) throw std::runtime_error("add_intent: the intent was not inserted");
  db_->note(QueueChange::queued);
  if (items.empty()) return result;
  std::vector<IntakeRow> rows;
  rows.reserve(items.size());
  std::string_view last_zone;
  std::int64_t zone = 0;
  for (const auto& [zone_id, item] : items) {
    if (zone_id != last_zone) {
      zone = *zone_ref(zone_id, true);
      last_zone = zone_id;
    }
    rows.push_back(IntakeRow{zone, group_of(item), item.kind, item.key(), 0});
  }
  result.created = queue_rows(rows, items, now_ms, lane, result.raised);
  IdList targets;
  targets.reserve(rows.size());
  for (const auto& row : rows) targets.push_back(row.target);
  db_->exec(Stmt::links_insert, Params().add(*intent_ref).add(std::move(targets)));
  return result;
}

std::size_t QueueStore::queue_rows(std::vector<IntakeRow>& rows, std::span<const ZonedItem> items,
                                   std::int64_t now_ms, Lane lane, std::size_t& raised) {
  // Set-based: a few statements per intent whatever its size (a round trip per item made
  // PostgreSQL intake a hundred times slower than SQLite's).
  std::map<std::pair<std::int64_t, Kind>, TextList> keys_by_queue;
  {
    std::set<Identity> asked;
    for (const auto& row : rows) {
      if (asked.emplace(row.zone, row.kind, row.key).second) {
        keys_by_queue[{row.zone, row.kind}].emplace_back(row.key);
      }
    }
  }
  struct Twin {
    std::int64_t id = 0;
    bool raise = false;
  };
  std::map<Identity, Twin> found;
  for (auto& [queue, keys] : keys_by_queue) {
    auto twins =
        db_->query(Stmt::twins_find, Params().add(queue.first).add(queue.second).add(keys));
    while (twins.next()) {
      found.emplace(Identity{queue.first, queue.second, twins.text(0)},
                    Twin{twins.integer(1), lane_or_normal(twins, 2) > lane});
    }
  }
  // The twins this transaction may link (on a shared store another daemon may hold one). Each
  // rejoins: its give-up clock restarts now, as the promise counts from the latest
  // acknowledgement, and one in a lower lane moves up (the new intent must not wait behind that
  // lane's backlog).
  std::map<Identity, std::int64_t> twins;
  if (!found.empty()) {
    IdList ids;
    for (const auto& [identity, twin] : found) ids.push_back(twin.id);
    std::unordered_set<std::int64_t> held;
    {
      auto rows_held = db_->query(Stmt::twins_hold, Params().add(std::move(ids)));
      while (rows_held.next()) held.insert(rows_held.integer(0));
    }
    IdList rejoined;
    for (const auto& [identity, twin] : found) {
      if (!held.contains(twin.id)) continue;
      twins.emplace(identity, twin.id);
      rejoined.push_back(twin.id);
      if (twin.raise) ++raised;
    }
    if (!rejoined.empty()) {
      db_->exec(Stmt::twins_rejoin, Params().add(std::move(rejoined)).add(lane).add(now_ms));
    }
  }
  // New targets in item order (the queue's order), one per key not pending yet.
  IdList zones, groups, kinds;
  TextList keys, values, headers;
  std::vector<std::size_t> fresh;  // rows that got a new target, in insert order
  std::map<Identity, std::size_t> first_of;
  std::map<std::pair<std::int64_t, Group>, std::int64_t> inserted;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& row = rows[i];
    Identity identity{row.zone, row.kind, row.key};
    if (const auto it = twins.find(identity); it != twins.end()) {
      row.target = it->second;
      continue;
    }
    if (!first_of.emplace(std::move(identity), i).second) continue;  // again in this intent
    fresh.push_back(i);
    const auto& item = items[i].item;
    zones.push_back(row.zone);
    groups.push_back(static_cast<std::int64_t>(row.group));
    kinds.push_back(static_cast<std::int64_t>(row.kind));
    keys.emplace_back(row.key);
    values.push_back(item.value == row.key ? std::nullopt : std::optional(item.value));
    auto encoded = encode_headers(item.headers);
    headers.push_back(encoded.empty() ? std::nullopt : std::optional(std::move(encoded)));
    ++inserted[{row.zone, row.group}];
  }
  if (fresh.empty()) return 0;
  // The ids are drawn first and inserted as given: on SQLite an INSERT ... RETURNING runs as a
  // trigger, which gives every row's insert a statement journal of its own (six writes to a
  // temporary file per URL, half the bulk intake rate).
  const IdList ids = draw_ids(fresh.size());
  db_->exec(Stmt::targets_insert, Params()
                                      .add(std::move(zones))
                                      .add(std::move(groups))
                                      .add(std::move(kinds))
                                      .add(std::move(keys))
                                      .add(std::move(values))
                                      .add(std::move(headers))
                                      .add(now_ms)
                                      .add(lane)
                                      .add(ids));
  for (std::size_t k = 0; k < fresh.size(); ++k) rows[fresh[k]].target = ids[k];
  for (auto& row : rows) {
    if (row.target == 0) row.target = rows[first_of.at({row.zone, row.kind, row.key})].target;
  }
  for (const auto& [queue, n] : inserted) {
    // Inserts are counted here, once per queue and intent, rather than by a trigger per row (a
    // trigger per inserted row cost a third of the bulk intake rate on SQLite).
    db_->exec(Stmt::counts_add, Params()
                                    .add(queue.first)
                                    .add(queue.second)
                                    .add(lane)
                                    .add(TargetState::pending)
                                    .add(n)
                                    .add(db_->host_id()));
  }
  db_->note_inserted(static_cast<std::int64_t>(fresh.size()));
  return fresh.size();
}

TakeResult QueueStore::take(const TakeRequest& request, std::int64_t cover_limit) {
  TakeResult result;
  if (!request.account.empty()) db_->check_sender(request.account);
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone) return result;
  if (request.group == Group::everything) db_->lock_everything(*zone);
  const std::size_t cap = cap_of(request.group, request.caps);
  // The head: the first `cap` distinct keys, oldest first. Twins (left when a requeued target met
  // one accepted meanwhile) ride along with the first of them instead of appearing twice in a
  // body, and do not count towards the cap, so reading goes on past them.
  std::vector<QueuedTarget> head;
  std::vector<std::string> keys;  // of each head row
  std::vector<std::size_t> distinct_rows;
  {
    std::unordered_set<std::string> seen;
    std::int64_t after = 0;
    for (bool more = true; more && distinct_rows.size() < cap;) {
      const std::size_t want = cap - distinct_rows.size();
      auto rows = db_->query(Stmt::head_read, Params()
                                                  .add(*zone)
                                                  .add(request.group)
                                                  .add(request.lane)
                                                  .add(after)
                                                  .add(static_cast<std::int64_t>(want)));
      std::size_t read = 0;
      while (rows.next()) {
        ++read;
        QueuedTarget target;
        target.id = rows.integer(0);
        target.item.kind = rows.as<Kind>(1, kKindCount).value_or(Kind::file);
        std::string key = rows.text(2);
        target.item.value = rows.text(3);
        target.item.headers = decode_headers(rows.text(4));
        target.created_ms = rows.integer(5);
        after = target.id;
        if (seen.insert(key).second) distinct_rows.push_back(head.size());
        keys.push_back(std::move(key));
        head.push_back(std::move(target));
      }
      more = read == want;
    }
  }
  if (head.empty()) return result;
  std::vector<const Item*> distinct;
  distinct.reserve(distinct_rows.size());
  for (const auto row : distinct_rows) distinct.push_back(&head[row].item);
  Cut cut = cut_batch(request.group, distinct, head.front().created_ms, request.caps,
                      request.linger_ms, request.now_ms);
  cut.take = std::min(cut.take, std::max<std::size_t>(request.budget, 1));
  if (cut.take == 0) {
    if (cut.ready_at_ms) {
      result.ready_in_ms = std::max<std::int64_t>(0, *cut.ready_at_ms - request.now_ms);
    }
    return result;
  }
  // Everything up to the last member by id is taken: members and the twins among them.
  const std::size_t last_row =
      cut.take < distinct_rows.size() ? distinct_rows[cut.take] - 1 : head.size() - 1;
  result.watermark = db_->scalar(Stmt::max_target_id, Params()).value_or(0);
  IdList head_ids;
  head_ids.reserve(last_row + 1);
  for (std::size_t row = 0; row <= last_row; ++row) head_ids.push_back(head[row].id);
  db_->exec(Stmt::head_take, Params()
                                 .add(*zone)
                                 .add(request.group)
                                 .add(request.lane)
                                 .add(head[last_row].id)
                                 .add(request.flight)
                                 .add(request.now_ms)
                                 .add(db_->host_id())
                                 .add(std::move(head_ids)));
  result.members.reserve(cut.take);
  TextList member_keys;
  member_keys.reserve(cut.take);
  for (std::size_t k = 0; k < cut.take; ++k) {
    result.members.push_back(std::move(head[distinct_rows[k]]));
    member_keys.emplace_back(std::move(keys[distinct_rows[k]]));
  }
  result.riders = static_cast<std::int64_t>(last_row + 1 - cut.take);
  const Kind kind = kind_of(request.group);
  // Pending twins elsewhere in the queue go with their member.
  result.riders += db_->exec(Stmt::twins_take, Params()
                                                   .add(*zone)
                                                   .add(kind)
                                                   .add(request.flight)
                                                   .add(request.now_ms)
                                                   .add(db_->host_id())
                                                   .add(std::move(member_keys)));
  if (!request.account.empty()) {
    record_send(SendRecord{request.account, kind, request.now_ms}, request.keep_sends_after_ms);
  }
  if (kind == Kind::host || kind == Kind::prefix || kind == Kind::everything) {
    const auto covered =
        cover(*zone, request.flight, result.members, result.watermark, cover_limit);
    result.riders += covered;
    result.coverage_pending = covered >= cover_limit;
  }
  return result;
}

std::int64_t QueueStore::cover(std::int64_t zone, std::int64_t flight,
                               std::span<const QueuedTarget> members, std::int64_t watermark,
                               std::int64_t limit) {
  if (!members.empty() && members.front().item.kind == Kind::everything) {
    return db_->exec(Stmt::cover_zone, Params()
                                           .add(flight)
                                           .add(zone)
                                           .add(watermark)
                                           .add(limit)
                                           .add(members.front().id)
                                           .add(db_->host_id()));
  }
  std::int64_t covered = 0;
  for (const auto& member : members) {
    for (const auto& range : coverage_ranges(member.item)) {
      if (covered >= limit) return covered;
      Params params;
      params.add(flight).add(zone).add(range.kind).add(range.low);
      if (!range.exact) params.add(range.high);
      params.add(watermark).add(limit - covered).add(member.id).add(db_->host_id());
      covered += db_->exec(range.exact ? Stmt::cover_exact : Stmt::cover_range, params);
    }
  }
  return covered;
}

Settled QueueStore::settle(const SettleRequest& request, std::int64_t limit) {
  if (!request.member_ids.empty() &&
      (request.outcome == Settlement::retry || request.outcome == Settlement::failed)) {
    db_->exec(Stmt::attempt_note,
              Params()
                  .add(request.flight)
                  .add(IdList(request.member_ids.begin(), request.member_ids.end()))
                  .add(std::int64_t{request.count_attempt ? 1 : 0})
                  .add(request.message));
  }
  switch (request.outcome) {
    case Settlement::done:
      db_->note(QueueChange::progressed);
      return collect(db_->query(Stmt::settle_done,
                                Params().add(request.flight).add(request.now_ms).add(limit)),
                     limit);
    case Settlement::failed:
      db_->note(QueueChange::progressed);
      return collect(db_->query(Stmt::settle_failed, Params()
                                                         .add(request.flight)
                                                         .add(request.now_ms)
                                                         .add(limit)
                                                         .add(std::int64_t{request.code})
                                                         .add(request.message)),
                     limit);
    case Settlement::retry:
    case Settlement::released:
      break;
  }
  // Pending again: the account's sender, maybe on another daemon by now, should look.
  db_->note(QueueChange::queued);
  return collect(
      db_->query(Stmt::settle_pending, Params().add(request.flight).add(request.now_ms).add(limit)),
      limit);
}

std::int64_t QueueStore::retry_failed_step(std::int64_t now_ms, std::int64_t limit) {
  IdList old;
  {
    auto rows = db_->query(Stmt::retry_candidates, Params().add(limit));
    while (rows.next()) old.push_back(rows.integer(0));
  }
  if (old.empty()) return 0;
  std::sort(old.begin(), old.end());  // in their first order among themselves
  // Queued again as a new submission would be: at the tail under fresh ids, with a fresh clock,
  // so that the head of a queue is always its oldest row (the oldest-age gauge reads it) and what
  // waited meanwhile goes first. The links (and an escalation's record) follow the ids.
  IdList fresh = draw_ids(old.size());
  const auto moved = db_->exec(Stmt::targets_requeue, Params().add(old).add(fresh).add(now_ms));
  db_->exec(Stmt::links_retarget, Params().add(old).add(fresh));
  db_->exec(Stmt::escalations_retarget, Params().add(std::move(old)).add(std::move(fresh)));
  if (moved > 0) db_->note(QueueChange::queued);
  return moved;
}

std::int64_t QueueStore::prune_step(std::int64_t before_ms, std::int64_t limit) {
  IdList intents;
  {
    auto rows = db_->query(Stmt::intents_prunable, Params().add(before_ms).add(limit));
    while (rows.next()) intents.push_back(rows.integer(0));
  }
  // Escalations as old as the intents pruned, with their prefix targets once finished (no intent
  // links them, so nothing else would ever delete them).
  std::vector<std::pair<std::int64_t, std::int64_t>> escalations;  // id, target
  {
    auto rows = db_->query(Stmt::escalations_prunable, Params().add(before_ms).add(limit));
    while (rows.next()) escalations.emplace_back(rows.integer(0), rows.integer(1));
  }
  for (const auto& [escalation, target] : escalations) {
    db_->exec(Stmt::escalation_delete, Params().add(escalation));
    db_->exec(Stmt::targets_drop, Params().add(IdList{target}));
  }
  for (const auto intent : intents) {
    // Its links, then the finished targets no other intent links, then the intent.
    IdList targets;
    {
      auto rows = db_->query(Stmt::intent_unlink, Params().add(intent));
      while (rows.next()) targets.push_back(rows.integer(0));
    }
    if (!targets.empty()) db_->exec(Stmt::targets_drop, Params().add(std::move(targets)));
    db_->exec(Stmt::intent_delete, Params().add(intent));
  }
  return std::max(static_cast<std::int64_t>(intents.size()),
                  static_cast<std::int64_t>(escalations.size()));
}

std::vector<SendRecord> QueueStore::recent_sends(std::int64_t after_ms) {
  std::vector<SendRecord> sends;
  auto rows = db_->query(Stmt::sends_recent, Params().add(after_ms));
  while (rows.next()) {
    sends.push_back(SendRecord{rows.text(0), rows.as<Kind>(1, kKindCount).value_or(Kind::file),
                               rows.integer(2)});
  }
  return sends;
}

std::optional<IntentStatus> QueueStore::intent_status(std::string_view intent_id) {
  IntentStatus status;
  std::int64_t ref = 0;
  {
    auto rows = db_->query(Stmt::intent_find, Params().add(intent_id));
    if (!rows.next()) return std::nullopt;
    status.id = std::string(intent_id);
    ref = rows.integer(0);
    status.created_ms = rows.integer(1);
    status.peer = Peer{static_cast<long>(rows.integer(2)), static_cast<long>(rows.integer(3)),
                       static_cast<long>(rows.integer(4))};
    status.lane = lane_or_normal(rows, 5);
    rows.finish();
  }
  std::set<std::int64_t> waiting_zones;
  {
    auto rows = db_->query(Stmt::intent_items, Params().add(ref));
    while (rows.next()) {
      ++status.total;
      switch (rows.as<TargetState>(0, kStateCount).value_or(TargetState::pending)) {
        case TargetState::pending:
          ++status.queued;
          waiting_zones.insert(rows.integer(5));
          break;
        case TargetState::in_flight:
          ++status.in_flight;
          waiting_zones.insert(rows.integer(5));
          break;
        case TargetState::done:
          ++status.done;
          break;
        case TargetState::failed:
          ++status.failed;
          status.errors.push_back(ItemError{rows.as<Kind>(1, kKindCount).value_or(Kind::file),
                                            rows.text(2), static_cast<int>(rows.integer(3)),
                                            rows.text(4)});
          break;
      }
    }
  }
  std::set<std::string> names;  // in order, as the status lists them
  for (const auto zone : waiting_zones) {
    auto rows = db_->query(Stmt::zone_name, Params().add(zone));
    if (rows.next()) names.insert(rows.text(0));
    rows.finish();
  }
  status.waiting_zones.assign(names.begin(), names.end());
  if (status.done > 0) status.covered_by = covered_by(ref);
  return status;
}

std::vector<CoveredBy> QueueStore::covered_by(std::int64_t intent_ref) {
  std::vector<CoveredBy> out;
  auto rows = db_->query(Stmt::intent_coverers,
                         Params().add(intent_ref).add(static_cast<std::int64_t>(kCoveredByShown)));
  while (rows.next()) {
    CoveredBy entry;
    entry.kind = rows.as<Kind>(0, kKindCount).value_or(Kind::prefix);
    entry.value = entry.kind == Kind::everything ? std::string() : rows.text(1);
    if (!rows.null(2)) entry.escalation = rows.integer(2);
    entry.items = rows.integer(3);
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<FailedTarget> QueueStore::failed_targets(std::size_t limit) {
  std::vector<FailedTarget> failed;
  auto rows = db_->query(Stmt::failed_list, Params().add(static_cast<std::int64_t>(limit)));
  while (rows.next()) {
    failed.push_back(FailedTarget{
        rows.integer(0), rows.text(1), rows.as<Kind>(2, kKindCount).value_or(Kind::file),
        rows.text(3), static_cast<int>(rows.integer(4)), rows.text(5), rows.integer(6)});
  }
  return failed;
}

QueueCounts QueueStore::queue_counts() {
  QueueCounts counts;
  auto rows = db_->query(Stmt::counts_read, Params());
  while (rows.next()) {
    const auto group = rows.as<Group>(1, kGroupCount);
    const auto state = rows.as<TargetState>(2, kStateCount);
    const auto lane = rows.as<Lane>(4, kLaneCount);
    if (!group || !state || !lane) continue;  // written by a newer purgeqd
    const auto n = rows.integer(3);
    auto [it, inserted] = counts.zones.try_emplace(rows.text(0));
    if (inserted) it->second = {};
    it->second[static_cast<std::size_t>(*group)][static_cast<std::size_t>(*state)] += n;
    if (*state == TargetState::pending) {
      auto [by_lane, added] = counts.lanes.try_emplace(it->first);
      if (added) by_lane->second = {};
      by_lane->second[static_cast<std::size_t>(*group)][static_cast<std::size_t>(*lane)] = n;
    }
  }
  return counts;
}

std::map<Group, std::int64_t> QueueStore::oldest_pending(std::string_view zone_id) {
  std::map<Group, std::int64_t> oldest;
  const auto zone = zone_ref(zone_id, false);
  if (!zone) return oldest;
  // Each queue (zone, group, lane)'s head is its oldest.
  IdList groups, lanes;
  for (int g = 0; g < kGroupCount; ++g) {
    for (const Lane lane : kLanes) {
      groups.push_back(g);
      lanes.push_back(static_cast<std::int64_t>(lane));
    }
  }
  auto rows = db_->query(Stmt::queue_oldest, Params().add(*zone).add(std::move(groups)).add(lanes));
  while (rows.next()) {
    const auto group = rows.as<Group>(0, kGroupCount);
    if (!group || rows.null(1)) continue;
    const auto created = rows.integer(1);
    auto [it, inserted] = oldest.try_emplace(*group, created);
    it->second = std::min(it->second, created);
  }
  return oldest;
}

std::int64_t QueueStore::count_under(std::int64_t zone, const Item& prefix, bool finished,
                                     std::int64_t cap) {
  std::int64_t count = 0;
  for (const auto& range : coverage_ranges(prefix)) {
    if (range.kind != Kind::file || range.exact || count >= cap) continue;
    count +=
        db_->scalar(
               finished ? Stmt::count_known_in : Stmt::count_pending_in,
               Params().add(zone).add(Kind::file).add(range.low).add(range.high).add(cap - count))
            .value_or(0);
  }
  return count;
}

std::int64_t QueueStore::pending_target(std::int64_t zone, const Item& item, std::int64_t now_ms,
                                        Lane lane) {
  const std::string key = item.key();
  {
    auto twin = db_->query(Stmt::twins_find,
                           Params().add(zone).add(item.kind).add(TextList{std::optional(key)}));
    if (twin.next()) {
      const auto id = twin.integer(1);
      twin.finish();
      return id;
    }
  }
  const auto group = group_of(item);
  const auto id = draw_ids(1).front();
  db_->exec(Stmt::targets_insert,
            Params()
                .add(IdList{zone})
                .add(IdList{static_cast<std::int64_t>(group)})
                .add(IdList{static_cast<std::int64_t>(item.kind)})
                .add(TextList{std::optional(key)})
                .add(TextList{item.value == key ? std::nullopt : std::optional(item.value)})
                .add(TextList{std::nullopt})
                .add(now_ms)
                .add(lane)
                .add(IdList{id}));
  db_->exec(Stmt::counts_add, Params()
                                  .add(zone)
                                  .add(group)
                                  .add(lane)
                                  .add(TargetState::pending)
                                  .add(std::int64_t{1})
                                  .add(db_->host_id()));
  return id;
}

std::vector<Escalation> QueueStore::escalate(const EscalationRequest& request) {
  std::vector<Escalation> out;
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone || !request.rule.enabled()) return out;
  // The head of the acting queue (zone, group, lane) only: the prefix goes in the lane of the
  // URLs it replaces.
  std::vector<Item> head;
  {
    auto rows =
        db_->query(Stmt::escalate_head, Params()
                                            .add(*zone)
                                            .add(request.group)
                                            .add(request.lane)
                                            .add(static_cast<std::int64_t>(kEscalationHeadRows)));
    while (rows.next()) head.push_back(Item{Kind::file, rows.text(0), {}});
  }
  std::vector<const Item*> items;
  items.reserve(head.size());
  for (const auto& item : head) items.push_back(&item);
  for (auto& candidate : escalation_candidates(items, request.rule, kEscalationCandidates)) {
    const Item prefix{Kind::prefix, std::move(candidate), {}};
    if (std::any_of(out.begin(), out.end(), [&](const Escalation& done) {
          return covers(Item{Kind::prefix, done.prefix, {}}, prefix);
        })) {
      continue;
    }
    if (const auto last =
            db_->scalar(Stmt::escalation_last_state, Params().add(*zone).add(prefix.value));
        last && *last != static_cast<std::int64_t>(TargetState::done)) {
      continue;  // still on its way, or refused: escalating again would not help
    }
    // The share cannot be told without the index: no escalation rather than a blind one.
    if (request.rule.min_share > 0 && !db_->knows_finished()) break;
    const auto pending = count_under(*zone, prefix, false, kEscalationPendingCap);
    if (pending < request.rule.min_urls) continue;
    const auto finished =
        request.rule.min_share > 0
            ? count_under(*zone, prefix, true, finished_count_cap(pending, request.rule.min_share))
            : 0;
    if (!worth_escalating(pending, finished, request.rule)) continue;
    const auto target = pending_target(*zone, prefix, request.now_ms, request.lane);
    const auto id = db_->scalar(Stmt::escalation_insert, Params()
                                                             .add(*zone)
                                                             .add(prefix.value)
                                                             .add(target)
                                                             .add(pending)
                                                             .add(pending + finished)
                                                             .add(request.now_ms));
    out.push_back(Escalation{id.value_or(0), prefix.value, pending, pending + finished});
  }
  return out;
}

void QueueStore::attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                              std::span<const std::string> hooks, std::int64_t now_ms) {
  if (hooks.empty()) return;
  const auto ref = db_->scalar(Stmt::intent_ref, Params().add(intent_id));
  if (!ref) throw std::runtime_error(fmt::format("attach_hooks: no intent {}", intent_id));
  // Once per intent and O(its items), like add_intent: afterwards the triggers keep the counts.
  std::int64_t total = 0, remaining = 0, failed = 0;
  {
    auto rows = db_->query(Stmt::intent_tally, Params().add(*ref));
    if (rows.next()) {
      total = rows.integer(0);
      remaining = rows.integer(1);
      failed = rows.integer(2);
    }
    rows.finish();
  }
  db_->exec(Stmt::hook_wait_insert,
            Params().add(*ref).add(join_zones(zone_ids)).add(total).add(remaining).add(failed));
  TextList names(hooks.begin(), hooks.end());
  db_->exec(Stmt::hook_runs_insert, Params()
                                        .add(*ref)
                                        .add(std::move(names))
                                        .add(remaining == 0 ? HookState::due : HookState::waiting)
                                        .add(now_ms));
}

HookClaim QueueStore::claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                                      std::int64_t limit) {
  HookClaim claim;
  if (limit > 0) {
    auto rows = db_->query(Stmt::hook_runs_claim,
                           Params().add(hook).add(now_ms).add(limit).add(db_->host_id()));
    while (rows.next()) {
      HookRun run;
      run.intent_ref = rows.integer(0);
      run.hook = std::string(hook);
      run.state = HookState::running;
      run.attempts = static_cast<int>(rows.integer(1));
      run.next_attempt_ms = rows.integer(2);
      run.last_error = rows.text(3);
      run.updated_ms = now_ms;
      claim.runs.push_back(std::move(run));
    }
  }
  if (!claim.runs.empty()) {
    IdList refs;
    for (const auto& run : claim.runs) refs.push_back(run.intent_ref);
    auto rows = db_->query(Stmt::hook_waits_about, Params().add(std::move(refs)));
    while (rows.next()) {
      const auto ref = rows.integer(0);
      for (auto& run : claim.runs) {
        if (run.intent_ref != ref) continue;
        run.intent_id = rows.text(1);
        run.zone_ids = split_zones(rows.text(2));
        run.total = rows.integer(3);
        run.failed = rows.integer(4);
        run.lane = lane_or_normal(rows, 5);
      }
    }
  }
  claim.next_due_ms = db_->scalar(Stmt::hook_next_due, Params().add(hook));
  return claim;
}

std::vector<HookItem> QueueStore::hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                             std::int64_t limit) {
  std::vector<HookItem> items;
  auto rows = db_->query(Stmt::hook_items, Params().add(intent_ref).add(after_target).add(limit));
  while (rows.next()) {
    items.push_back(HookItem{rows.integer(0), rows.text(1),
                             rows.as<Kind>(2, kKindCount).value_or(Kind::file), rows.text(3),
                             decode_headers(rows.text(5)), static_cast<int>(rows.integer(4))});
  }
  return items;
}

std::vector<HookRun> QueueStore::intent_hook_runs(std::string_view intent_id) {
  std::vector<HookRun> runs;
  auto rows = db_->query(Stmt::intent_hook_runs, Params().add(intent_id));
  while (rows.next()) {
    HookRun run;
    run.intent_ref = rows.integer(0);
    run.intent_id = std::string(intent_id);
    run.hook = rows.text(1);
    run.state = rows.as<HookState>(2, kHookStateCount).value_or(HookState::waiting);
    run.attempts = static_cast<int>(rows.integer(3));
    run.next_attempt_ms = rows.integer(4);
    run.last_error = rows.text(5);
    run.updated_ms = rows.integer(6);
    run.zone_ids = split_zones(rows.text(7));
    run.total = rows.integer(8);
    run.failed = rows.integer(9);
    runs.push_back(std::move(run));
  }
  return runs;
}

std::vector<HookCount> QueueStore::hook_counts() {
  std::vector<HookCount> counts;
  auto rows = db_->query(Stmt::hook_counts, Params());
  while (rows.next()) {
    const auto state = rows.as<HookState>(1, kHookStateCount);
    if (!state) continue;
    counts.push_back(HookCount{rows.text(0), *state, rows.integer(2)});
  }
  return counts;
}

}  // namespace

std::unique_ptr<Store> make_queue_store(std::unique_ptr<StoreBackend> backend) {
  return std::make_unique<QueueStore>(std::move(backend));
}

}  // namespace purgeq
