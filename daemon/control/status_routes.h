// The read-only view of the daemon: GET /v1/status (queues, accounts, storage, hooks), GET
// /v1/status/history (per-second counts of the last 15 minutes), GET /metrics (Prometheus text)
// and GET /healthz (a write probe). Answered from counters and the
// store's latest snapshot, in constant time however long the queue.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "config/config.h"
#include "http/responses.h"
#include "intake/delivery_view.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

class StatusRoutes {
 public:
  // `store` (the writer) gives the snapshot and answers the health probe, `reader` the queries
  // that read rows (oldest pending items, hook counts).
  StatusRoutes(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, Metrics& metrics);

  // `config` must outlive the calls.
  boost::asio::awaitable<HttpResponseMessage> status(const HttpRequestMessage& request,
                                                     const Config& config);
  // The 900 whole seconds before the current one, per flow (observe/throughput_history.h).
  HttpResponseMessage history(const HttpRequestMessage& request) const;
  boost::asio::awaitable<HttpResponseMessage> metrics(const HttpRequestMessage& request,
                                                      const Config& config);
  // 200 after a successful write to the database, 503 storage_unavailable otherwise.
  boost::asio::awaitable<HttpResponseMessage> healthz(const HttpRequestMessage& request);

 private:
  StoreWorker& store_;
  StoreWorker& reader_;
  DeliveryView& delivery_;
  Metrics& metrics_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace purgeq
