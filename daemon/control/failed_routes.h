// The admin routes for items that gave up: GET /v1/failed lists them with Cloudflare's error,
// POST /v1/failed/retry requeues them all with a fresh give-up clock.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "config/config.h"
#include "control/admin_gate.h"
#include "control/progress_signal.h"
#include "http/responses.h"
#include "intake/delivery_view.h"
#include "model/peer.h"
#include "store/store_worker.h"

namespace purgeq {

class FailedRoutes {
 public:
  // `reader` lists, `store` (the writer) requeues; requeued items wake `delivery` and, as intents
  // leave the failed state, `progress`'s waiters.
  FailedRoutes(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, AdminGate& admin,
               ProgressSignal& progress);

  // `config` must outlive the calls.
  boost::asio::awaitable<HttpResponseMessage> list(const HttpRequestMessage& request,
                                                   const Peer& peer, const Config& config);
  boost::asio::awaitable<HttpResponseMessage> retry(const HttpRequestMessage& request,
                                                    const Peer& peer, const Config& config);

 private:
  StoreWorker& store_;
  StoreWorker& reader_;
  DeliveryView& delivery_;
  AdminGate& admin_;
  ProgressSignal& progress_;
};

}  // namespace purgeq
