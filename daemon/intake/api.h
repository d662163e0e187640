// The socket API's routes (docs/api.md): request in, response out. Transport-agnostic, so the
// listener owns sockets and deadlines and this file owns meaning.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string_view>

#include "config/config.h"
#include "intake/access.h"
#include "intake/delivery_view.h"
#include "intake/progress_signal.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

using HttpRequestMessage = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponseMessage = boost::beast::http::response<boost::beast::http::string_body>;

class Api {
 public:
  // `store` is the writer (submissions, retries, health); `reader` answers status and intent
  // queries on its own connection, so they never wait behind writes.
  Api(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, Metrics& metrics,
      std::shared_ptr<const Config> config);

  boost::asio::awaitable<HttpResponseMessage> handle(const HttpRequestMessage& request,
                                                     const Peer& peer);
  // The TCP listener's requests: only Cloudflare's purge endpoint, only with an `api_clients:`
  // token, under that client's rules. `remote` is for logs.
  boost::asio::awaitable<HttpResponseMessage> handle_client(const HttpRequestMessage& request,
                                                            const std::string& remote);
  // The same decision on the request's header alone, before its body is read: the answer that
  // refuses it (no or unknown token, another route or method), or nullopt to read the body.
  // Nobody without a token makes purgeqd hold a body.
  std::optional<HttpResponseMessage> screen_client(const HttpRequestMessage& header,
                                                   const std::string& remote);
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
  // `client`: submitted on TCP by that API client (its rules apply instead of `access:`), as
  // `client_config` defines it; `remote` is its address, for logs.
  boost::asio::awaitable<HttpResponseMessage> submit(
      const HttpRequestMessage& request, const Peer& peer, bool cloudflare_flavor,
      std::string_view path_zone, const ApiClient* client = nullptr,
      std::shared_ptr<const Config> client_config = nullptr, std::string_view remote = {});
  void log_client_refusal(const std::string& remote, const std::string& reason);
  // POST /v1/expand: what a /v1/purge body would queue (items routed, cache-key variants
  // expanded, duplicates merged), without queueing it.
  HttpResponseMessage expand(const HttpRequestMessage& request);
  boost::asio::awaitable<HttpResponseMessage> intent(const HttpRequestMessage& request,
                                                     const Peer& peer, std::string_view id,
                                                     std::string_view query);
  boost::asio::awaitable<HttpResponseMessage> status(const HttpRequestMessage& request);
  boost::asio::awaitable<HttpResponseMessage> failed(const HttpRequestMessage& request,
                                                     const Peer& peer);
  boost::asio::awaitable<HttpResponseMessage> retry_failed(const HttpRequestMessage& request,
                                                           const Peer& peer);
  // nullopt when `peer` may do an admin `action` (access.h: admin_verdict); else the 403's error.
  boost::asio::awaitable<std::optional<IntakeError>> require_admin(const Peer& peer,
                                                                   std::string_view action);
  boost::asio::awaitable<HttpResponseMessage> healthz(const HttpRequestMessage& request);
  boost::asio::awaitable<HttpResponseMessage> metrics(const HttpRequestMessage& request);
  std::string new_intent_id();

  StoreWorker& store_;
  StoreWorker& reader_;
  DeliveryView& delivery_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  ProgressSignal progress_;
  IdentityCache identities_;  // NSS lookups for access rules and admin rights, off the loop
  long self_uid_;             // purgeqd's effective uid: always an admin
  std::mt19937_64 rng_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_client_refusal_log_{};
  std::size_t client_refusals_unlogged_ = 0;
};

}  // namespace purgeq
