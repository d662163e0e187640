// Owns one Store connection on a dedicated thread so fsyncs and queries never block the event
// loop. Jobs that queue up while a commit is in progress are run together in the next
// transaction: one fsync acknowledges every submission that was waiting (group commit). The
// daemon runs two: the writer, and a reader on a read-only connection for status and intent
// queries, which WAL lets run beside the writes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "store/store_jobs.h"

namespace purgeq {

struct StoreWorkerStats {
  std::uint64_t commits = 0;
  std::uint64_t jobs = 0;
  std::uint64_t failed_commits = 0;
  std::uint64_t conflicts = 0;  // rounds undone for another daemon's transaction and run again
};

class StoreWorker final : public StoreJobs {
 public:
  // Takes an open store (open it on the calling thread, so start-up errors surface there).
  // `publish_snapshots`: after every commit, read and publish a StoreSnapshot (the writer).
  StoreWorker(std::unique_ptr<Store> store, boost::asio::any_io_executor io,
              bool publish_snapshots = true);
  ~StoreWorker() override;

  // Runs the job on the store thread inside a group transaction; `done` runs on the io executor.
  void submit(Job job, Done done) override;

  // Awaitable form of run(): returns the result, rethrows the job's or the commit's error.
  template <class F, class R = std::invoke_result_t<F, Store&>>
  boost::asio::awaitable<R> call(F fn);

  [[nodiscard]] StoreWorkerStats stats() const;
  [[nodiscard]] bool shared() const override { return shared_; }
  [[nodiscard]] std::int64_t host_id() const override { return host_id_; }
  [[nodiscard]] std::shared_ptr<const StoreSnapshot> snapshot() const override;
  // Finishes queued jobs, then joins the thread. Idempotent.
  void stop();

 private:
  struct Queued {
    std::function<void(Store&)> run;
    std::function<void(std::exception_ptr)> complete;
    std::exception_ptr error;
  };
  void enqueue(Queued job);
  void loop();
  void publish();
  void try_restore_reserve();
  // While the disk is full, how often the worker checks whether space has returned.
  static constexpr std::chrono::seconds kReserveRetry{1};

  std::unique_ptr<Store> store_;
  bool shared_ = false;
  std::int64_t host_id_ = 0;
  boost::asio::any_io_executor io_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  StoreWorkerStats stats_;
  bool publish_snapshots_;
  std::shared_ptr<const StoreSnapshot> snapshot_;
  std::thread thread_;
};

template <class F, class R>
boost::asio::awaitable<R> StoreWorker::call(F fn) {
  // Deliberately not a coroutine: GCC 12 destroys init-captured lambdas in coroutine frames twice.
  // use_awaitable rethrows a non-null leading exception_ptr and otherwise yields the value.
  auto shared_fn = std::make_shared<F>(std::move(fn));
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                     void(std::exception_ptr, R)>(
      [this, shared_fn](auto handler) {
        // Asio's handlers are move-only; std::function needs a copyable callable.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        run([shared_fn](Store& store) { return (*shared_fn)(store); },
            std::function<void(std::exception_ptr, R)>(
                [shared](std::exception_ptr e, R r) { (*shared)(std::move(e), std::move(r)); }));
      },
      boost::asio::use_awaitable);
}

}  // namespace purgeq
