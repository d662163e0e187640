// One submission, from its body to its receipt.
#include "intake/submit.h"

#include <fmt/format.h>

#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <optional>
#include <vector>

#include "intake/admission.h"
#include "intake/api_clients.h"
#include "intake/everything_guard.h"
#include "intake/hook_choice.h"
#include "intake/intent_parser.h"
#include "intake/lane_choice.h"
#include "intake/routing.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

}  // namespace

// The guard reads and the intent is written in one job on the writer, which also runs the
// dispatcher's takes: no purge-everything can be taken between the check and the write.
Stored store_guarded(Store& store, const Config& config, const StoredIntent& intent,
                     const Peer& peer, const std::string& source) {
  for (const auto& zone : intent.guarded) {
    const bool pending = store.oldest_pending(zone.zone_id).contains(Group::everything);
    if (auto refused =
            everything_verdict(config.zones.at(zone.zone_index), zone.zone_index,
                               store.last_everything_ms(zone.zone_id), pending, intent.now_ms)) {
      return Stored{{}, refused};
    }
  }
  Stored added{store.add_intent(intent.id, intent.now_ms, peer, source, intent.items, intent.lane),
               std::nullopt};
  store.attach_hooks(intent.id, intent.hooks.zone_ids, intent.hooks.names, intent.now_ms);
  return added;
}

bool wakes_delivery(const SubmitResult& result) {
  // New targets, or a pending twin raised to a higher lane: either can change what the account
  // sends next (a raised item must not wait for the driver's next timer).
  return result.created > 0 || result.raised > 0;
}

void count_rejected(Metrics& metrics, ErrorCode code) {
  ++metrics.intents_rejected[std::string(error_name(code))];
}

SubmitRoute::SubmitRoute(StoreWorker& store, DeliveryView& delivery, Metrics& metrics,
                         IdentityCache& identities)
    : store_(store),
      delivery_(delivery),
      metrics_(metrics),
      identities_(identities),
      rng_(std::random_device{}()) {}

std::string SubmitRoute::new_intent_id() {
  // Time-ordered (sorts by acceptance) and unguessable enough that ids don't collide.
  return fmt::format("{:012x}{:012x}", static_cast<std::uint64_t>(wall_ms()),
                     rng_() & 0xffffffffffffULL);
}

boost::asio::awaitable<std::optional<IntakeError>> SubmitRoute::check_rights(
    const Config& config, const Submitter& who, const ParsedIntent& intent,
    std::optional<PeerIdentity>& identity) {
  if (who.client != nullptr) co_return check_client_access(config, *who.client, intent.items);
  // The access rules need the peer's groups only when a rule concerns the items; they are looked
  // up off the loop.
  if (!access_needs_identity(config, intent.items)) co_return std::nullopt;
  identity = co_await identities_.resolve(who.peer);
  co_return check_access(config, who.peer, *identity, intent.items);
}

StoredIntent SubmitRoute::prepare(const Config& config, ParsedIntent& intent, Lane lane) {
  StoredIntent stored;
  stored.id = new_intent_id();
  stored.now_ms = wall_ms();
  stored.lane = lane;
  stored.guarded = guarded_zones(config, intent.items);
  stored.hooks = choose_hooks(config, intent.items, lane);
  stored.items.reserve(intent.items.size());
  for (auto& routed : intent.items) {
    // Under the zone's name, the queue's key: known before its id is (docs/architecture.md).
    stored.items.push_back(
        ZonedItem{config.zones.at(routed.zone_index).name, std::move(routed.item)});
  }
  return stored;
}

void SubmitRoute::count_accepted(const Config& config, const StoredIntent& stored,
                                 const SubmitResult& result) {
  ++metrics_.intents_accepted;
  for (const auto& item : stored.items) {
    ++metrics_.items_accepted[{std::string(zone_name_of(config, item.zone_id)), item.item.kind}];
  }
  // Items that merged into a pending twin need no request of their own.
  metrics_.api_calls_saved += result.items - result.created;
  metrics_.history.add(stored.now_ms / 1000, Flow::accepted, stored.items.size());
}

boost::asio::awaitable<HttpResponseMessage> SubmitRoute::submit(
    const HttpRequestMessage& request, const Submitter& who, std::shared_ptr<const Config> config) {
  const bool cloudflare = who.flavor == IntakeFlavor::cloudflare;
  const std::string from = who.remote.empty() ? "" : fmt::format(" remote={}", who.remote);
  const std::string source = who.client != nullptr ? "tcp:" + who.client->name
                             : cloudflare          ? "cloudflare"
                                                   : "v1";
  const auto reject = [&](const IntakeError& error,
                          std::optional<std::int64_t> retry_after = std::nullopt) {
    count_rejected(metrics_, error.code);
    log::info("intent_rejected", "code={} uid={} pid={} source={}{} message={}",
              error_name(error.code), who.peer.uid, who.peer.pid, source, from,
              log::quote(error.message));
    return error_response(request, cloudflare ? ErrorDialect::cloudflare : ErrorDialect::native,
                          ErrorAnswer{error.code, error.message, error.item, retry_after});
  };
  if (stopping_) co_return reject(shutting_down_error());

  std::optional<std::size_t> forced_zone;
  if (cloudflare) {
    forced_zone = zone_with_id(*config, who.path_zone);
    if (!forced_zone) co_return reject(unknown_path_zone_error(who.path_zone));
  }
  auto parsed = read_intent(request.body(), *config, who.flavor, forced_zone);
  if (const auto* error = std::get_if<IntakeError>(&parsed)) co_return reject(*error);
  auto& intent = std::get<ParsedIntent>(parsed);

  std::optional<PeerIdentity> identity;
  if (auto denied = co_await check_rights(*config, who, intent, identity)) {
    co_return reject(*denied);
  }
  const Lane lane = choose_lane(*config, intent, who.client, identity ? &*identity : nullptr);
  if (auto refused =
          admit_intent(queue_load(*store_.snapshot()), config->storage, intent.items.size())) {
    co_return reject(*refused);
  }

  const StoredIntent stored = prepare(*config, intent, lane);
  Stored outcome;
  try {
    // By reference: GCC 12 double-destroys non-trivial lambda captures inside co_await
    // expressions; everything captured lives in this frame until the call returns.
    outcome = co_await store_.call([&config, &stored, &who, &source](Store& store) {
      return store_guarded(store, *config, stored, who.peer, source);
    });
  } catch (const std::exception& e) {
    log::error("storage_error", "op=add_intent error={}", log::quote(e.what()));
    co_return reject(storage_refusal(e, who.client != nullptr));
  }
  if (outcome.refused) {
    co_return reject(everything_too_soon_error(*config, *outcome.refused, stored.now_ms),
                     retry_after_seconds(*outcome.refused, stored.now_ms));
  }

  const SubmitResult& result = outcome.result;
  count_accepted(*config, stored, result);
  log::info("intent_accepted",
            "id={} items={} new_targets={} lane={} uid={} gid={} pid={} source={}{}", stored.id,
            result.items, result.created, to_string(lane), who.peer.uid, who.peer.gid, who.peer.pid,
            source, from);
  if (wakes_delivery(result)) delivery_.wake();
  if (cloudflare) co_return cloudflare_accepted(request, stored.id);
  json::object receipt{{"id", stored.id},
                       {"status", "queued"},
                       {"items", result.items},
                       {"priority", to_string(lane)}};
  if (intent.expanded_urls > 0) receipt["variants"] = variants_json(intent);
  co_return json_response(request, http::status::accepted, std::move(receipt));
}

}  // namespace purgeq
