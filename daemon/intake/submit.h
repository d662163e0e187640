// The submit route: POST /v1/purge, and Cloudflare's purge endpoint on the Unix socket and on the
// TCP listener. Parse, check the submitter's rights, admit, choose lane and hooks, store, and
// acknowledge only once the intent is committed. Every refusal is logged and counted.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/error_code.h"
#include "http/responses.h"
#include "intake/access.h"
#include "intake/body_shape.h"
#include "intake/delivery_view.h"
#include "model/peer.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

// Who submits, and through which door.
struct Submitter {
  Peer peer;  // SO_PEERCRED on the Unix socket; unknown (-1) on TCP
  IntakeFlavor flavor = IntakeFlavor::native;
  std::string_view path_zone = {};    // cloudflare flavor: the zone id the path names
  const ApiClient* client = nullptr;  // TCP: the API client its token names, whose rules apply
                                      // instead of `access:` and whose lane is the default
  std::string_view remote = {};       // TCP: its address, for logs
};

// Counts a refused intent in purgeq_intents_rejected_total, by code.
void count_rejected(Metrics& metrics, ErrorCode code);

class SubmitRoute {
 public:
  // `store` is the writer: the intent is stored in one of its group commits.
  SubmitRoute(StoreWorker& store, DeliveryView& delivery, Metrics& metrics,
              IdentityCache& identities);

  // `config`: the rules the request is judged by, held while it runs (a reload mid-request does
  // not change them under it; an API client lives in the config it was authenticated against).
  boost::asio::awaitable<HttpResponseMessage> submit(const HttpRequestMessage& request,
                                                     const Submitter& who,
                                                     std::shared_ptr<const Config> config);
  // From now on every submission is refused with shutting_down.
  void stop() { stopping_ = true; }

 private:
  std::string new_intent_id();

  StoreWorker& store_;
  DeliveryView& delivery_;
  Metrics& metrics_;
  IdentityCache& identities_;
  std::mt19937_64 rng_;
  bool stopping_ = false;
};

}  // namespace purgeq
