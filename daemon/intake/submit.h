// The submit route: POST /v1/purge, and Cloudflare's purge endpoint on the Unix socket and on the
// TCP listener. Parse, check the submitter's rights, admit, choose lane and hooks, store, and
// acknowledge only once the intent is committed. Every refusal is logged and counted.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/error_code.h"
#include "http/responses.h"
#include "intake/access.h"
#include "intake/body_shape.h"
#include "intake/delivery_view.h"
#include "intake/everything_guard.h"
#include "intake/hook_choice.h"
#include "intake/intent_parser.h"
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

// An accepted intent as it is stored: its items by zone id, lane, completion hooks, and the zones
// whose purge-everything guardrail is checked in the same store job.
struct StoredIntent {
  std::string id;
  std::int64_t now_ms = 0;
  Lane lane = Lane::normal;
  std::vector<ZonedItem> items;
  HookChoice hooks;
  std::vector<GuardedZone> guarded;
};

// What the store job answers: the intent stored, or refused by a zone's purge-everything
// guardrail.
struct Stored {
  SubmitResult result;
  std::optional<EverythingTooSoon> refused;
};

// The store job of a submission, on the writer: the purge-everything guard of `intent.guarded`,
// then the intent and its completion hooks, in one transaction.
Stored store_guarded(Store& store, const Config& config, const StoredIntent& intent,
                     const Peer& peer, const std::string& source);

// Whether an accepted intent must wake delivery at once.
[[nodiscard]] bool wakes_delivery(const SubmitResult& result);

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
  // nullopt when the submitter may purge every item: an API client by its rules, a local peer by
  // the access rules (`identity` is set when they needed the peer looked up).
  boost::asio::awaitable<std::optional<IntakeError>> check_rights(
      const Config& config, const Submitter& who, const ParsedIntent& intent,
      std::optional<PeerIdentity>& identity);
  // Moves the items out of `intent`.
  StoredIntent prepare(const Config& config, ParsedIntent& intent, Lane lane);
  void count_accepted(const Config& config, const StoredIntent& stored, const SubmitResult& result);

  StoreWorker& store_;
  DeliveryView& delivery_;
  Metrics& metrics_;
  IdentityCache& identities_;
  std::mt19937_64 rng_;
  bool stopping_ = false;
};

}  // namespace purgeq
