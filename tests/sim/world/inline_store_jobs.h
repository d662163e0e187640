// The store's jobs run on the caller's thread, in the order and grouping the daemon's writer
// would give them: jobs submitted meanwhile form one round (store/store_round.h), committed
// `commit_latency` after the first of them, then the snapshot is published and each job completes
// in a task of the scheduler. Dropped on a crash, uncommitted jobs never complete: nothing they
// did is acknowledged, as after kill -9.
#pragma once

#include <deque>
#include <memory>

#include "store/store_jobs.h"
#include "store/store_round.h"
#include "world/manual_time.h"

namespace purgeq::sim {

class InlineStoreJobs final : public StoreJobs {
 public:
  InlineStoreJobs(std::unique_ptr<Store> store, ManualScheduler& scheduler, ManualClocks& clocks,
                  Clock::duration commit_latency = std::chrono::milliseconds(2));
  ~InlineStoreJobs() override;

  void submit(Job job, Done done) override;
  [[nodiscard]] std::shared_ptr<const StoreSnapshot> snapshot() const override { return snapshot_; }
  [[nodiscard]] bool shared() const override { return store_->shared(); }
  [[nodiscard]] std::int64_t host_id() const override { return store_->host_id(); }

  // The store itself, for checks between rounds.
  [[nodiscard]] Store& store() { return *store_; }
  // Rounds committed so far.
  [[nodiscard]] std::uint64_t rounds() const { return rounds_; }
  // Runs the pending round now (tests that do not step the scheduler).
  void flush();

 private:
  struct Queued {
    Job job;
    Done done;
  };
  void commit_round();
  void publish();

  std::unique_ptr<Store> store_;
  ManualScheduler& scheduler_;
  ManualClocks& clocks_;
  Clock::duration commit_latency_;
  std::deque<Queued> queue_;
  std::optional<Scheduler::TimerId> round_timer_;
  std::shared_ptr<const StoreSnapshot> snapshot_;
  std::uint64_t rounds_ = 0;
  // Completions hold this: a crash (destruction) cuts them off.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace purgeq::sim
