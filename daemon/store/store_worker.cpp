// The store thread: drains the job queue into one transaction per round (group commit).
#include "store/store_worker.h"

#include <vector>

#include "store/store_round.h"

namespace purgeq {

StoreWorker::StoreWorker(std::unique_ptr<Store> store, boost::asio::any_io_executor io,
                         bool publish_snapshots)
    : store_(std::move(store)),
      shared_(store_->shared()),
      host_id_(store_->host_id()),
      io_(std::move(io)),
      publish_snapshots_(publish_snapshots),
      snapshot_(std::make_shared<StoreSnapshot>()) {
  if (publish_snapshots_) publish();
  thread_ = std::thread([this] { loop(); });
}

void StoreWorker::try_restore_reserve() {
  try {
    if (store_->restore_reserve() && publish_snapshots_) publish();
  } catch (...) {  // NOLINT(bugprone-empty-catch): still full; the next round tries again
  }
}

void StoreWorker::publish() {
  auto fresh = std::make_shared<StoreSnapshot>();
  fresh->counts = store_->queue_counts();
  fresh->size_bytes = store_->size_bytes();
  fresh->disk_full = store_->disk_full();
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(fresh);
}

std::shared_ptr<const StoreSnapshot> StoreWorker::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

StoreWorker::~StoreWorker() {
  stop();
}

void StoreWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StoreWorker::submit(Job job, Done done) {
  Queued queued;
  queued.run = std::move(job);
  queued.complete = [io = io_, done = std::move(done)](std::exception_ptr error) {
    boost::asio::post(io, [error, done] { done(error); });
  };
  enqueue(std::move(queued));
}

void StoreWorker::enqueue(Queued job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) {
      job.complete(std::make_exception_ptr(std::runtime_error("storage is shut down")));
      return;
    }
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

StoreWorkerStats StoreWorker::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void StoreWorker::loop() {
  for (;;) {
    std::deque<Queued> round;
    {
      std::unique_lock lock(mutex_);
      if (store_->disk_full()) {
        // Watch for space to return: once the reserve can be taken back, intake reopens.
        if (!wake_.wait_for(lock, kReserveRetry, [this] { return stopping_ || !queue_.empty(); })) {
          lock.unlock();
          try_restore_reserve();
          continue;
        }
      } else {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      }
      if (queue_.empty()) return;  // stopping, and everything queued has been done
      round.swap(queue_);
    }
    if (store_->disk_full()) try_restore_reserve();
    std::vector<RoundJob> jobs;
    jobs.reserve(round.size());
    for (auto& job : round) jobs.push_back(RoundJob{std::move(job.run), nullptr});
    const auto outcome = run_round(*store_, jobs);
    if (publish_snapshots_) {
      try {
        publish();
      } catch (...) {  // NOLINT(bugprone-empty-catch): the previous snapshot stays; next commit
      }
    }
    {
      std::lock_guard lock(mutex_);
      stats_.jobs += round.size();
      stats_.conflicts += static_cast<std::uint64_t>(outcome.conflicts);
      ++(outcome.error ? stats_.failed_commits : stats_.commits);
    }
    for (std::size_t i = 0; i < round.size(); ++i) {
      round[i].complete(outcome.error ? outcome.error : jobs[i].error);
    }
  }
}

}  // namespace purgeq
