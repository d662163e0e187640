#include "world/inline_store_jobs.h"

#include <vector>

namespace purgeq::sim {

InlineStoreJobs::InlineStoreJobs(std::unique_ptr<Store> store, ManualScheduler& scheduler,
                                 ManualClocks& clocks, Clock::duration commit_latency)
    : store_(std::move(store)),
      scheduler_(scheduler),
      clocks_(clocks),
      commit_latency_(commit_latency) {
  publish();
}

InlineStoreJobs::~InlineStoreJobs() {
  *alive_ = false;
  if (round_timer_) scheduler_.cancel(*round_timer_);
}

void InlineStoreJobs::submit(Job job, Done done) {
  queue_.push_back(Queued{std::move(job), std::move(done)});
  if (!round_timer_) {
    round_timer_ = scheduler_.at(clocks_.now() + commit_latency_, [this] {
      round_timer_.reset();
      commit_round();
    });
  }
}

void InlineStoreJobs::flush() {
  if (round_timer_) scheduler_.cancel(*round_timer_);
  round_timer_.reset();
  while (!queue_.empty()) commit_round();
}

void InlineStoreJobs::commit_round() {
  std::deque<Queued> round;
  round.swap(queue_);
  if (round.empty()) return;
  if (store_->disk_full()) store_->restore_reserve();
  std::vector<RoundJob> jobs;
  jobs.reserve(round.size());
  for (auto& queued : round) jobs.push_back(RoundJob{std::move(queued.job), nullptr});
  const auto outcome = run_round(*store_, jobs);
  ++rounds_;
  publish();
  for (std::size_t i = 0; i < round.size(); ++i) {
    auto error = outcome.error ? outcome.error : jobs[i].error;
    scheduler_.post([alive = alive_, done = std::move(round[i].done), error] {
      if (*alive) done(error);
    });
  }
}

void InlineStoreJobs::publish() {
  auto fresh = std::make_shared<StoreSnapshot>();
  fresh->counts = store_->queue_counts();
  fresh->size_bytes = 0;
  fresh->disk_full = store_->disk_full();
  snapshot_ = std::move(fresh);
}

}  // namespace purgeq::sim
