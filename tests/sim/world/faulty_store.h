// A store whose disk fills up when the simulation says so: while an episode lasts, every commit
// fails with StorageFullError (nothing of the round is kept), the writer gives up its reserve as
// SQLite's does, new intents are refused, and the reserve comes back once the episode is over.
// Everything else is the real store underneath.
#pragma once

#include <memory>

#include "store/store.h"

namespace purgeq::sim {

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void set_disk_full(bool full) { full_ = full; }
  [[nodiscard]] Store& inner() { return *inner_; }

  void begin() override { inner_->begin(); }
  void commit() override {
    if (full_) throw StorageFullError("simulated: the disk is full");
    inner_->commit();
  }
  void rollback() override { inner_->rollback(); }
  void savepoint() override { inner_->savepoint(); }
  void release_savepoint() override { inner_->release_savepoint(); }
  void rollback_to_savepoint() override { inner_->rollback_to_savepoint(); }

  SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                          std::string_view source, std::span<const ZonedItem> items,
                          Lane lane) override {
    if (relieved_) throw StorageFullError("simulated: the disk is full; intents refused");
    return inner_->add_intent(intent_id, now_ms, peer, source, items, lane);
  }
  std::int64_t recover_step(std::int64_t limit) override { return inner_->recover_step(limit); }
  TakeResult take(const TakeRequest& request, std::int64_t cover_limit) override {
    return inner_->take(request, cover_limit);
  }
  std::int64_t cover_step(std::string_view zone_id, std::int64_t flight,
                          std::span<const QueuedTarget> members, std::int64_t watermark,
                          std::int64_t limit) override {
    return inner_->cover_step(zone_id, flight, members, watermark, limit);
  }
  void move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) override {
    inner_->move_to_flight(ids, flight);
  }
  void split_flight(std::int64_t from, std::span<const std::int64_t> members, std::int64_t to,
                    bool covered) override {
    inner_->split_flight(from, members, to, covered);
  }
  Settled settle(const SettleRequest& request, std::int64_t limit) override {
    return inner_->settle(request, limit);
  }
  Settled give_up_step(std::int64_t before, std::int64_t now, std::string_view reason,
                       std::int64_t limit) override {
    return inner_->give_up_step(before, now, reason, limit);
  }
  std::int64_t retry_failed_step(std::int64_t now_ms, std::int64_t limit) override {
    return inner_->retry_failed_step(now_ms, limit);
  }
  std::int64_t prune_step(std::int64_t before_ms, std::int64_t limit) override {
    return inner_->prune_step(before_ms, limit);
  }
  void record_send(const SendRecord& send, std::int64_t keep_after_ms) override {
    inner_->record_send(send, keep_after_ms);
  }
  std::vector<SendRecord> recent_sends(std::int64_t after_ms) override {
    return inner_->recent_sends(after_ms);
  }
  std::optional<IntentStatus> intent_status(std::string_view intent_id) override {
    return inner_->intent_status(intent_id);
  }
  std::vector<FailedTarget> failed_targets(std::size_t limit) override {
    return inner_->failed_targets(limit);
  }
  QueueCounts queue_counts() override { return inner_->queue_counts(); }
  std::map<Group, std::int64_t> oldest_pending(std::string_view zone_id) override {
    return inner_->oldest_pending(zone_id);
  }
  std::optional<std::int64_t> last_everything_ms(std::string_view zone_id) override {
    return inner_->last_everything_ms(zone_id);
  }
  std::int64_t size_bytes() override { return inner_->size_bytes(); }
  void probe_write(std::int64_t now_ms) override { inner_->probe_write(now_ms); }
  void relieve_full_disk() override { relieved_ = true; }
  bool restore_reserve() override {
    if (full_) return false;
    relieved_ = false;
    return true;
  }
  [[nodiscard]] bool disk_full() const override { return relieved_; }
  std::vector<Escalation> escalate(const EscalationRequest& request) override {
    return inner_->escalate(request);
  }
  void index_known_urls(bool wanted) override { inner_->index_known_urls(wanted); }
  void attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                    std::span<const std::string> hooks, std::int64_t now_ms) override {
    inner_->attach_hooks(intent_id, zone_ids, hooks, now_ms);
  }
  std::int64_t recover_hook_runs_step(std::int64_t limit) override {
    return inner_->recover_hook_runs_step(limit);
  }
  HookClaim claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                            std::int64_t limit) override {
    return inner_->claim_hook_runs(hook, now_ms, limit);
  }
  void finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                       std::int64_t next_attempt_ms, std::string_view error,
                       std::int64_t now_ms) override {
    inner_->finish_hook_run(intent_ref, hook, outcome, next_attempt_ms, error, now_ms);
  }
  std::vector<HookItem> hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                   std::int64_t limit) override {
    return inner_->hook_items(intent_ref, after_target, limit);
  }
  std::vector<HookRun> intent_hook_runs(std::string_view intent_id) override {
    return inner_->intent_hook_runs(intent_id);
  }
  std::vector<HookCount> hook_counts() override { return inner_->hook_counts(); }
  void record_zone(const ZoneRecord& record) override { inner_->record_zone(record); }
  std::vector<ZoneRecord> zone_records() override { return inner_->zone_records(); }
  std::int64_t adopt_zone_step(std::string_view old_key, std::string_view new_key,
                               std::int64_t limit) override {
    return inner_->adopt_zone_step(old_key, new_key, limit);
  }
  [[nodiscard]] bool shared() const override { return inner_->shared(); }
  [[nodiscard]] std::int64_t host_id() const override { return inner_->host_id(); }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) override {
    return inner_->claim_senders(request, reclaim_limit);
  }

 private:
  std::unique_ptr<Store> inner_;
  bool full_ = false;      // the episode: commits fail
  bool relieved_ = false;  // the reserve was given up: intents are refused until it is back
};

}  // namespace purgeq::sim
