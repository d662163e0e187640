// The socket API's front: routes each request to the submit route (intake/submit.h) or to the
// control plane (control/), on the Unix socket and on the TCP listener, judged by the config of
// the moment it arrived. Transport-agnostic: the listeners (http/) own sockets and deadlines.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "control/admin_gate.h"
#include "control/failed_routes.h"
#include "control/intent_route.h"
#include "control/progress_signal.h"
#include "control/status_routes.h"
#include "http/error_code.h"
#include "http/log_throttle.h"
#include "http/responses.h"
#include "intake/access.h"
#include "intake/delivery_view.h"
#include "intake/submit.h"
#include "model/peer.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

class Api {
 public:
  // `store` is the writer (submissions, retries, health); `reader` answers status and intent
  // queries on its own connection, so they never wait behind writes.
  Api(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, Metrics& metrics,
      std::shared_ptr<const Config> config);

  // The Unix socket's requests: every route.
  boost::asio::awaitable<HttpResponseMessage> handle(const HttpRequestMessage& request,
                                                     const Peer& peer);
  // The TCP listener's requests, each only with an `api_clients:` token whose scopes allow it:
  // Cloudflare's purge endpoint (scope purge, under the client's rules), and the read-only views
  // (scope status: the status page, /v1/status, /v1/status/history, /v1/intents/{id}; the failed
  // items' routes answer 403, as they need a Unix-socket admin). `remote` is for logs.
  boost::asio::awaitable<HttpResponseMessage> handle_client(const HttpRequestMessage& request,
                                                            const std::string& remote);
  // The same decision on the request's header alone, before its body is read: the answer that
  // refuses it (no or unknown token, a scope the token lacks, another route or method), or
  // nullopt to read the body. Nobody without a token makes purgeqd hold a body.
  std::optional<HttpResponseMessage> screen_client(const HttpRequestMessage& header,
                                                   const std::string& remote);
  // The metrics port's requests (`metrics.listen`): GET /metrics and nothing else, with the port's
  // bearer token when one is configured. screen_metrics decides on the header alone.
  std::optional<HttpResponseMessage> screen_metrics(const HttpRequestMessage& header,
                                                    const std::string& remote);
  boost::asio::awaitable<HttpResponseMessage> handle_metrics(const HttpRequestMessage& request,
                                                             const std::string& remote);
  // A refusal a listener answered itself (too many connections, a body over the bound, an
  // unreadable request): counted with the submissions' refusals.
  void count_refusal(ErrorCode code) { count_rejected(metrics_, code); }
  // Also forgets cached peer identities, so changed groups and admin lists count at once.
  void reconfigure(std::shared_ptr<const Config> config) {
    config_ = std::move(config);
    identities_.clear();
  }
  // New submissions get 503 from now on; waiters answer at once.
  void stop_intake();
  // Intents may have changed state: wake waiters.
  void progress() { progress_.notify_all(); }

 private:
  void log_client_refusal(const std::string& remote, ErrorCode reason);
  // The read-only routes on TCP, for a client already screened to have the status scope.
  boost::asio::awaitable<HttpResponseMessage> handle_status_client(
      const HttpRequestMessage& request, const std::string& remote, const Config& config);

  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  IdentityCache identities_;  // NSS lookups for access rules and admin rights, off the loop
  ProgressSignal progress_;
  SubmitRoute submit_;
  AdminGate admin_;
  IntentRoute intents_;
  FailedRoutes failed_;
  StatusRoutes status_;
  LogThrottle client_refusals_;  // client_refused lines
};

}  // namespace purgeq
