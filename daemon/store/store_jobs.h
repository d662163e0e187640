// The store as the event loop's side uses it: jobs that run on the store's own thread inside a
// group transaction, each completing back on the loop's thread once its transaction committed
// (or failed), and what the writer published after its last commit. StoreWorker is the daemon's;
// tests and the simulator run jobs their own way.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "store/store.h"

namespace purgeq {

// What the writer publishes after each commit, before any job of that commit completes: queue
// counts and the database's size, read from the store's own bookkeeping (no scans).
struct StoreSnapshot {
  QueueCounts counts;
  std::int64_t size_bytes = 0;
  bool disk_full = false;  // the disk filled up and the reserve is not back yet
};

class StoreJobs {
 public:
  using Job = std::function<void(Store&)>;
  using Done = std::function<void(std::exception_ptr)>;

  virtual ~StoreJobs() = default;
  StoreJobs() = default;
  StoreJobs(const StoreJobs&) = delete;
  StoreJobs& operator=(const StoreJobs&) = delete;

  // Runs `job(Store&)` in a transaction; `done(error)` follows on the caller's thread after that
  // transaction committed (or failed): a job's result is never delivered before it is durable.
  virtual void submit(Job job, Done done) = 0;
  // The latest snapshot (empty before the first commit, unless published at start-up).
  [[nodiscard]] virtual std::shared_ptr<const StoreSnapshot> snapshot() const = 0;
  // The store's place among daemons sharing it (Store::shared, Store::host_id), fixed at open.
  [[nodiscard]] virtual bool shared() const = 0;
  [[nodiscard]] virtual std::int64_t host_id() const = 0;

  // submit() with a result: `done(error, result)`, the result default-made on an error.
  template <class F, class R = std::invoke_result_t<F, Store&>>
  void run(F fn, std::function<void(std::exception_ptr, R)> done) {
    auto result = std::make_shared<std::optional<R>>();
    submit([fn = std::move(fn), result](Store& store) mutable { result->emplace(fn(store)); },
           [result, done = std::move(done)](std::exception_ptr error) {
             if (error || !result->has_value()) {
               done(error ? error : std::make_exception_ptr(std::runtime_error("storage job lost")),
                    R{});
             } else {
               done(nullptr, std::move(**result));
             }
           });
  }
};

}  // namespace purgeq
