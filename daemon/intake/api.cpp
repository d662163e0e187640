// Route handlers of the socket API.
#include "intake/api.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <charconv>
#include <map>

#include "intake/access.h"
#include "intake/api_clients.h"
#include "intake/everything_guard.h"
#include "intake/intent_parser.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

constexpr int kMaxWaitSeconds = 3600;
constexpr std::size_t kFailedListLimit = 1000;
// At most one client_refused log line per this interval: a token guesser must not flood the log.
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

HttpResponseMessage json_response(const HttpRequestMessage& request, http::status status,
                                  const json::value& body) {
  HttpResponseMessage response{status, request.version()};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::server, "purgeqd/" PURGEQ_VERSION);
  response.body() = json::serialize(body);
  response.body() += '\n';
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  return response;
}

HttpResponseMessage error_response(const HttpRequestMessage& request, http::status status,
                                   std::string_view code, std::string_view message,
                                   std::string_view item = {}) {
  json::object error{{"code", code}, {"message", message}};
  if (!item.empty()) error["item"] = item;
  return json_response(request, status, json::object{{"error", std::move(error)}});
}

// Cloudflare's v4 envelope for the compatible endpoint.
HttpResponseMessage cloudflare_response(const HttpRequestMessage& request, http::status status,
                                        int code, std::string_view message,
                                        std::string_view result_id = {}) {
  json::object body;
  body["success"] = result_id.empty() ? false : true;
  body["errors"] = json::array{};
  if (code != 0)
    body["errors"].as_array().push_back(json::object{{"code", code}, {"message", message}});
  body["messages"] = json::array{};
  body["result"] =
      result_id.empty() ? json::value(nullptr) : json::value(json::object{{"id", result_id}});
  return json_response(request, status, body);
}

// Why an intent could not be stored, for its submitter. Local users see the store's error (the
// path and SQLite's reason help them); a network client only that it may retry: the rest is in
// the log.
std::string storage_failure_text(std::string_view error, bool network_client) {
  if (network_client) return "could not store the intent; try again later";
  return fmt::format("could not store the intent: {}", error);
}

// The zone id of Cloudflare's purge route, /client/v4/zones/{zone_id}/purge_cache (also without
// the /client/v4 prefix, as some clients put it in their base URL); nullopt for any other path.
std::optional<std::string_view> cloudflare_route_zone(std::string_view path) {
  constexpr std::string_view kVersion = "/client/v4";
  constexpr std::string_view kZones = "/zones/";
  constexpr std::string_view kPurge = "/purge_cache";
  if (path.starts_with(kVersion)) path.remove_prefix(kVersion.size());
  if (!path.starts_with(kZones) || !path.ends_with(kPurge) ||
      path.size() < kZones.size() + kPurge.size()) {
    return std::nullopt;
  }
  return path.substr(kZones.size(), path.size() - kZones.size() - kPurge.size());
}

// Cloudflare's codes for the rules our intake checks, so compatible clients see familiar errors.
int cloudflare_code(std::string_view code) {
  static const std::map<std::string_view, int> kCodes{{"not_an_array", 1014},
                                                      {"invalid_purge_everything", 1013},
                                                      {"purge_everything_not_alone", 1092},
                                                      {"host_not_in_zone", 1082},
                                                      {"tag_too_long", 1100},
                                                      {"host_too_long", 1114},
                                                      {"invalid_host", 1115},
                                                      {"invalid_url", 1015},
                                                      {"url_has_fragment", 1015},
                                                      {"url_too_long", 1015}};
  const auto it = kCodes.find(code);
  return it == kCodes.end() ? 1012 : it->second;
}

// How cache-key variants grew an intent: {"urls": URLs expanded, "items": items they make}.
json::object variants_json(const ParsedIntent& intent) {
  return json::object{{"urls", intent.expanded_urls}, {"items", intent.variant_items}};
}

std::string_view zone_name_of(const Config& config, std::string_view zone_id) {
  const Zone* zone = config.find_zone(zone_id);
  return zone != nullptr ? std::string_view(zone->name) : zone_id;
}

json::object intent_json(const IntentStatus& status, const DeliveryView& delivery,
                         const StoreSnapshot& snapshot) {
  json::array errors;
  for (const auto& error : status.errors) {
    errors.push_back(json::object{{"kind", to_string(error.kind)},
                                  {"item", error.item},
                                  {"code", error.code},
                                  {"message", error.message}});
  }
  json::object out{
      {"id", status.id},
      {"status", status.status()},
      {"created_at", rfc3339_utc(status.created_ms)},
      {"priority", to_string(status.lane)},
      {"items", json::object{{"total", status.total},
                             {"queued", status.queued},
                             {"in_flight", status.in_flight},
                             {"done", status.done},
                             {"failed", status.failed}}},
      {"errors", std::move(errors)},
      {"peer",
       json::object{{"uid", status.peer.uid}, {"gid", status.peer.gid}, {"pid", status.peer.pid}}}};
  // What completed some items in a broader request (docs/api.md): they were not sent alone.
  json::array covered_by;
  for (const auto& coverer : status.covered_by) {
    json::object entry{{"kind", to_string(coverer.kind)}, {"items", coverer.items}};
    if (coverer.kind != Kind::everything) entry["value"] = coverer.value;
    if (coverer.escalation) entry["escalation"] = *coverer.escalation;
    covered_by.push_back(std::move(entry));
  }
  out["covered_by"] = std::move(covered_by);
  if (!status.terminal()) {
    json::array waiting;
    for (const auto& zone_id : status.waiting_zones) {
      waiting.push_back(delivery.waiting_for(zone_id, status.lane, snapshot));
    }
    out["waiting_for"] = std::move(waiting);
  }
  return out;
}

// Completion hooks of one intent: state (waiting, pending, running, succeeded, failed), attempts
// and the last attempt's error.
json::array hook_runs_json(const std::vector<HookRun>& runs) {
  json::array out;
  for (const auto& run : runs) {
    json::object entry{{"hook", run.hook},
                       {"state", hook_state_name(run.state)},
                       {"attempts", run.attempts},
                       {"updated_at", rfc3339_utc(run.updated_ms)}};
    if (!run.last_error.empty()) entry["last_error"] = run.last_error;
    if (run.state == HookState::due && run.next_attempt_ms > 0) {
      entry["next_attempt_at"] = rfc3339_utc(run.next_attempt_ms);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// The wait=S parameter of GET /v1/intents/{id}, in seconds and capped; 0 when absent. Boost.URL
// decodes it ("wait=%33%30" is 30). Errors: invalid_query, invalid_wait.
std::variant<int, IntakeError> wait_seconds_of(std::string_view query) {
  // Boost.URL 1.81's parse_query measures its input again with strlen (it rebuilds a view from
  // s.data()), so the view into the request target would run on into the rest of the request:
  // hand it a NUL-terminated copy.
  const std::string terminated(query);
  const auto params = boost::urls::parse_query(terminated);
  if (!params) {
    return IntakeError{
        "invalid_query", fmt::format("query string {} is not valid", quote(query)), {}};
  }
  const boost::urls::params_view decoded = *params;
  const auto it = decoded.find("wait");
  if (it == decoded.end()) return 0;
  const std::string wait = (*it).value;
  int value = 0;
  const auto [ptr, ec] = std::from_chars(wait.data(), wait.data() + wait.size(), value);
  if (ec != std::errc() || ptr != wait.data() + wait.size() || value < 0) {
    return IntakeError{
        "invalid_wait", fmt::format("wait: \"{}\" is not a whole number of seconds", wait), {}};
  }
  return std::min(value, kMaxWaitSeconds);
}

}  // namespace

Api::Api(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, Metrics& metrics,
         std::shared_ptr<const Config> config)
    : store_(store),
      reader_(reader),
      delivery_(delivery),
      metrics_(metrics),
      config_(std::move(config)),
      self_uid_(static_cast<long>(geteuid())),
      rng_(std::random_device{}()),
      started_(std::chrono::steady_clock::now()) {}

void Api::stop_intake() {
  stopping_ = true;
  progress_.notify_all();
}

std::string Api::new_intent_id() {
  // Time-ordered (sorts by acceptance) and unguessable enough that ids don't collide.
  return fmt::format("{:012x}{:012x}", static_cast<std::uint64_t>(wall_ms()),
                     rng_() & 0xffffffffffffULL);
}

std::optional<HttpResponseMessage> Api::screen_client(const HttpRequestMessage& header,
                                                      const std::string& remote) {
  const auto config = config_;
  const auto authorization = header[http::field::authorization];
  const bool missing = authorization.empty();
  if (missing || authenticate_client(config->api_clients, authorization) == nullptr) {
    const std::string reason = missing ? "missing_token" : "bad_token";
    ++metrics_.client_auth_failures[reason];
    log_client_refusal(remote, reason);
    auto answer =
        missing ? cloudflare_response(header, http::status::bad_request, 9106,
                                      "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
                : cloudflare_response(header, http::status::unauthorized, 10000,
                                      "Authentication error");
    // One guess per connection: a guesser must reconnect for the next.
    answer.keep_alive(false);
    return answer;
  }
  const std::string_view target = header.target();
  if (!cloudflare_route_zone(target.substr(0, target.find('?')))) {
    return cloudflare_response(header, http::status::not_found, 7000, "No route for that URI");
  }
  if (header.method() != http::verb::post) {
    return cloudflare_response(header, http::status::method_not_allowed, 10405,
                               "Method not allowed; use POST");
  }
  return std::nullopt;
}

void Api::log_client_refusal(const std::string& remote, const std::string& reason) {
  // A token guesser must not flood the journal: one line per interval, with the count.
  ++client_refusals_unlogged_;
  const auto now = std::chrono::steady_clock::now();
  if (last_client_refusal_log_ != std::chrono::steady_clock::time_point{} &&
      now - last_client_refusal_log_ < kRefusalLogInterval) {
    return;
  }
  log::warning("client_refused", "remote={} reason={} refused={}", remote, reason,
               client_refusals_unlogged_);
  last_client_refusal_log_ = now;
  client_refusals_unlogged_ = 0;
}

boost::asio::awaitable<HttpResponseMessage> Api::handle_client(const HttpRequestMessage& request,
                                                               const std::string& remote) {
  // Screened on its header already; again here because a reload may have come in between.
  if (auto refused = screen_client(request, remote)) co_return std::move(*refused);
  const auto config = config_;
  const ApiClient* client =
      authenticate_client(config->api_clients, request[http::field::authorization]);
  const std::string_view target = request.target();
  const auto zone = cloudflare_route_zone(target.substr(0, target.find('?')));
  // `config` keeps `client` alive while the submission runs, even across a reload.
  co_return co_await submit(request, Peer{}, true, *zone, client, config, remote);
}

boost::asio::awaitable<HttpResponseMessage> Api::handle(const HttpRequestMessage& request,
                                                        const Peer& peer) {
  const std::string_view target = request.target();
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const auto verb = request.method();

  if (path == "/v1/purge") {
    if (verb != http::verb::post) {
      co_return error_response(request, http::status::method_not_allowed, "method_not_allowed",
                               "use POST /v1/purge");
    }
    co_return co_await submit(request, peer, false, {});
  }
  constexpr std::string_view kIntents = "/v1/intents/";
  if (path.starts_with(kIntents) && verb == http::verb::get) {
    co_return co_await intent(request, peer, path.substr(kIntents.size()), query);
  }
  if (path == "/v1/expand") {
    if (verb != http::verb::post) {
      co_return error_response(request, http::status::method_not_allowed, "method_not_allowed",
                               "use POST /v1/expand");
    }
    co_return expand(request);
  }
  if (path == "/v1/status" && verb == http::verb::get) co_return co_await status(request);
  if (path == "/v1/failed" && verb == http::verb::get) co_return co_await failed(request, peer);
  if (path == "/v1/failed/retry" && verb == http::verb::post) {
    co_return co_await retry_failed(request, peer);
  }
  if (path == "/metrics" && verb == http::verb::get) co_return co_await metrics(request);
  if (path == "/healthz" && verb == http::verb::get) co_return co_await healthz(request);
  if (const auto zone = cloudflare_route_zone(path)) {
    if (verb != http::verb::post) {
      co_return cloudflare_response(request, http::status::method_not_allowed, 10405,
                                    "Method not allowed; use POST");
    }
    co_return co_await submit(request, peer, true, *zone);
  }
  co_return error_response(
      request, http::status::not_found, "not_found",
      fmt::format("no route for {} {}", std::string(request.method_string()), std::string(path)));
}

boost::asio::awaitable<HttpResponseMessage> Api::submit(const HttpRequestMessage& request,
                                                        const Peer& peer, bool cloudflare_flavor,
                                                        std::string_view path_zone,
                                                        const ApiClient* client,
                                                        std::shared_ptr<const Config> client_config,
                                                        std::string_view remote) {
  // A reload mid-request must not change the rules under us; a client's rules come with the
  // config it was authenticated against.
  const auto config = client_config ? std::move(client_config) : config_;
  const std::string from = remote.empty() ? "" : fmt::format(" remote={}", remote);
  const std::string source = client != nullptr   ? "tcp:" + client->name
                             : cloudflare_flavor ? "cloudflare"
                                                 : "v1";
  auto reject = [&](http::status status, std::string_view code, std::string_view message,
                    std::string_view item, int cf_code) {
    ++metrics_.intents_rejected[std::string(code)];
    log::info("intent_rejected", "code={} uid={} pid={} source={}{} message={}", code, peer.uid,
              peer.pid, source, from, log::quote(message));
    return cloudflare_flavor ? cloudflare_response(request, status, cf_code, message)
                             : error_response(request, status, code, message, item);
  };
  if (stopping_) {
    co_return reject(http::status::service_unavailable, "shutting_down",
                     "purgeqd is shutting down; submit again after it restarts", {}, 10503);
  }
  std::optional<std::size_t> forced_zone;
  if (cloudflare_flavor) {
    for (std::size_t i = 0; i < config->zones.size(); ++i) {
      if (config->zones[i].id == path_zone) forced_zone = i;
    }
    if (!forced_zone) {
      co_return reject(http::status::not_found, "unknown_zone",
                       fmt::format("Could not route to /zones/{}/purge_cache, perhaps your object "
                                   "identifier is invalid?",
                                   bounded_item(path_zone)),
                       bounded_item(path_zone), 7003);
    }
  }
  // Refuses duplicate member names, which json::parse would resolve silently.
  auto body = parse_json_body(request.body());
  if (const auto* error = std::get_if<IntakeError>(&body)) {
    co_return reject(http::status::bad_request, error->code, error->message, error->item,
                     cloudflare_code(error->code));
  }
  auto parsed = parse_intent(std::get<json::value>(body), *config,
                             cloudflare_flavor ? IntakeFlavor::cloudflare : IntakeFlavor::native,
                             forced_zone);
  if (const auto* error = std::get_if<IntakeError>(&parsed)) {
    const auto answer = error->code == "too_many_items" ? http::status::payload_too_large
                                                        : http::status::bad_request;
    co_return reject(answer, error->code, error->message, error->item,
                     cloudflare_code(error->code));
  }
  body = json::value();  // the items are copied out; free the document before storing
  auto& intent = std::get<ParsedIntent>(parsed);
  // The lane: the body's "priority" when given, else the client's or the access rules' default
  // (docs/delivery.md, "Priority lanes").
  Lane lane = Lane::normal;
  if (client != nullptr) {
    if (auto denied = check_client_access(*config, *client, intent.items)) {
      co_return reject(http::status::forbidden, denied->code, denied->message, denied->item, 10000);
    }
    lane = client->priority;
  } else if (access_needs_identity(*config, intent.items)) {
    const PeerIdentity identity = co_await identities_.resolve(peer);
    if (auto denied = check_access(*config, peer, identity, intent.items)) {
      co_return reject(http::status::forbidden, denied->code, denied->message, denied->item, 10000);
    }
    lane = access_lane(*config, identity, intent.items).value_or(Lane::normal);
  }
  if (intent.lane) lane = *intent.lane;

  // Backpressure: refuse what would push the queue past its configured bounds, before storing
  // anything; the client retries later and nothing is acknowledged that was not stored.
  {
    const auto snapshot = store_.snapshot();
    const auto queued = snapshot->counts.total(TargetState::pending) +
                        snapshot->counts.total(TargetState::in_flight);
    const auto limit = config->storage.max_pending_items;
    if (queued + static_cast<std::int64_t>(intent.items.size()) > limit) {
      auto answer = reject(
          http::status::service_unavailable, "queue_full",
          fmt::format("the queue holds {} pending items and storage.max_pending_items is {}; "
                      "try again when it has drained",
                      queued, limit),
          {}, 10503);
      answer.set(http::field::retry_after, "30");
      co_return answer;
    }
    const auto max_bytes = config->storage.max_size_mb * 1024 * 1024;
    if (max_bytes > 0 && snapshot->size_bytes >= max_bytes) {
      auto answer = reject(
          http::status::service_unavailable, "storage_full",
          fmt::format("the database uses {} MiB and storage.max_size_mb is {}; try again when "
                      "the queue has drained",
                      snapshot->size_bytes / (1024 * 1024), config->storage.max_size_mb),
          {}, 10503);
      answer.set(http::field::retry_after, "60");
      co_return answer;
    }
    if (snapshot->disk_full) {
      auto answer = reject(http::status::service_unavailable, "disk_full",
                           fmt::format("the disk holding {} is full; purgeqd takes new intents "
                                       "again within a second of space being freed",
                                       config->storage.path),
                           {}, 10503);
      answer.set(http::field::retry_after, "5");
      co_return answer;
    }
  }

  std::vector<ZonedItem> items;
  items.reserve(intent.items.size());
  for (auto& routed : intent.items) {
    items.push_back(ZonedItem{config->zones.at(routed.zone_index).id, std::move(routed.item)});
  }
  const std::string id = new_intent_id();
  const auto now = wall_ms();
  const auto guarded = guarded_zones(*config, intent.items);
  // Completion hooks of the intent's zones and lane, recorded with it (docs/delivery.md).
  struct {
    std::vector<std::string> zone_ids, names;
  } hooks;
  if (!config->hooks.empty()) {
    std::vector<std::string> zone_names;
    for (const auto& routed : intent.items) {
      const auto& zone = config->zones.at(routed.zone_index);
      if (std::find(zone_names.begin(), zone_names.end(), zone.name) == zone_names.end()) {
        zone_names.push_back(zone.name);
        hooks.zone_ids.push_back(zone.id);
      }
    }
    hooks.names = hooks_for_intent(config->hooks, zone_names, lane);
  }
  struct Guarded {
    SubmitResult result;
    std::optional<EverythingTooSoon> refused;
  };
  Guarded outcome;
  try {
    // The guard reads and the intent is written in one job on the writer, which also runs the
    // dispatcher's takes: no purge-everything can be taken between the check and the write.
    outcome = co_await store_.call([&items, &id, now, &peer, &source, &guarded, &config, lane,
                                    &hooks](Store& store) -> Guarded {
      for (const auto& zone : guarded) {
        const bool pending = store.oldest_pending(zone.zone_id).contains(Group::everything);
        if (auto refused =
                everything_verdict(config->zones.at(zone.zone_index), zone.zone_index,
                                   store.last_everything_ms(zone.zone_id), pending, now)) {
          return Guarded{{}, refused};
        }
      }
      Guarded added{store.add_intent(id, now, peer, source, items, lane), std::nullopt};
      store.attach_hooks(id, hooks.zone_ids, hooks.names, now);
      return added;
    });
  } catch (const StorageFullError& e) {
    log::error("storage_error", "op=add_intent error={}", log::quote(e.what()));
    auto answer = reject(http::status::service_unavailable, "disk_full",
                         storage_failure_text(e.what(), client != nullptr), {}, 10503);
    answer.set(http::field::retry_after, "5");
    co_return answer;
  } catch (const std::exception& e) {
    log::error("storage_error", "op=add_intent error={}", log::quote(e.what()));
    auto answer = reject(http::status::service_unavailable, "storage_unavailable",
                         storage_failure_text(e.what(), client != nullptr), {}, 10503);
    answer.set(http::field::retry_after, "5");
    co_return answer;
  }
  if (outcome.refused) {
    const auto error = everything_too_soon_error(*config, *outcome.refused, now);
    auto answer = reject(http::status::too_many_requests, error.code, error.message, {}, 10429);
    answer.set(http::field::retry_after,
               std::to_string(retry_after_seconds(*outcome.refused, now)));
    co_return answer;
  }
  const SubmitResult& result = outcome.result;
  ++metrics_.intents_accepted;
  for (const auto& item : items) {
    ++metrics_.items_accepted[{std::string(zone_name_of(*config, item.zone_id)), item.item.kind}];
  }
  // Items that merged into a pending twin need no request of their own.
  metrics_.api_calls_saved += result.items - result.created;
  log::info("intent_accepted",
            "id={} items={} new_targets={} lane={} uid={} gid={} pid={} source={}{}", id,
            result.items, result.created, to_string(lane), peer.uid, peer.gid, peer.pid, source,
            from);
  if (result.created > 0) delivery_.wake();
  if (cloudflare_flavor) {
    co_return cloudflare_response(request, http::status::ok, 0, {}, id);
  }
  json::object receipt{
      {"id", id}, {"status", "queued"}, {"items", result.items}, {"priority", to_string(lane)}};
  if (intent.expanded_urls > 0) receipt["variants"] = variants_json(intent);
  co_return json_response(request, http::status::accepted, std::move(receipt));
}

HttpResponseMessage Api::expand(const HttpRequestMessage& request) {
  const auto config = config_;
  auto body = parse_json_body(request.body());
  if (const auto* error = std::get_if<IntakeError>(&body)) {
    return error_response(request, http::status::bad_request, error->code, error->message,
                          error->item);
  }
  auto parsed = parse_intent(std::get<json::value>(body), *config);
  if (const auto* error = std::get_if<IntakeError>(&parsed)) {
    const auto answer = error->code == "too_many_items" ? http::status::payload_too_large
                                                        : http::status::bad_request;
    return error_response(request, answer, error->code, error->message, error->item);
  }
  const auto& intent = std::get<ParsedIntent>(parsed);
  json::array items;
  items.reserve(intent.items.size());
  for (const auto& routed : intent.items) {
    json::object entry{{"zone", config->zones.at(routed.zone_index).name},
                       {"kind", to_string(routed.item.kind)},
                       {"value", routed.item.value}};
    if (!routed.item.headers.empty()) {
      json::object headers;
      for (const auto& [name, value] : routed.item.headers) headers[name] = value;
      entry["headers"] = std::move(headers);
    }
    items.push_back(std::move(entry));
  }
  json::object answer{{"items", std::move(items)}, {"count", intent.items.size()}};
  answer["variants"] = variants_json(intent);
  return json_response(request, http::status::ok, std::move(answer));
}

boost::asio::awaitable<std::optional<IntakeError>> Api::require_admin(const Peer& peer,
                                                                      std::string_view action) {
  const auto config = config_;  // a reload while resolving must not change the rules under us
  std::optional<IntakeError> denied;
  switch (admin_verdict(*config, peer, self_uid_)) {
    case AdminVerdict::kAllowed:
      co_return std::nullopt;
    case AdminVerdict::kDenied:
      denied = admin_denied(*config, peer, nullptr, action);
      break;
    case AdminVerdict::kNeedsIdentity: {
      const PeerIdentity identity = co_await identities_.resolve(peer);
      if (admin_admits(*config, identity)) co_return std::nullopt;
      denied = admin_denied(*config, peer, &identity, action);
      break;
    }
  }
  log::info("admin_denied", "uid={} gid={} pid={} action={}", peer.uid, peer.gid, peer.pid,
            log::quote(action));
  co_return denied;
}

boost::asio::awaitable<HttpResponseMessage> Api::intent(const HttpRequestMessage& request,
                                                        const Peer& peer, std::string_view id,
                                                        std::string_view query) {
  auto wait = wait_seconds_of(query);
  if (auto* error = std::get_if<IntakeError>(&wait)) {
    co_return error_response(request, http::status::bad_request, error->code, error->message);
  }
  const int wait_seconds = std::get<int>(wait);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  const std::string key(id);
  bool owner_checked = false;
  for (;;) {
    std::optional<IntentStatus> status;
    // Read before the query: progress committed while it runs then ends the wait at once.
    const auto seen = progress_.epoch();
    try {
      // By reference: GCC 12 double-destroys non-trivial lambda captures inside co_await
      // expressions; `key` lives in this frame until the call returns.
      status = co_await reader_.call([&key](Store& store) { return store.intent_status(key); });
    } catch (const std::exception& e) {
      co_return error_response(request, http::status::service_unavailable, "storage_unavailable",
                               e.what());
    }
    if (!status) {
      co_return error_response(request, http::status::not_found, "unknown_intent",
                               fmt::format("no intent with id \"{}\"", bounded_item(key)),
                               bounded_item(key));
    }
    // Once: the submitter does not change while we wait.
    if (!owner_checked) {
      owner_checked = true;
      if (peer.uid < 0 || status->peer.uid != peer.uid) {
        if (auto denied = co_await require_admin(peer, "reading another user's intent")) {
          co_return error_response(request, http::status::forbidden, denied->code, denied->message);
        }
      }
    }
    if (status->terminal() || stopping_ || std::chrono::steady_clock::now() >= deadline) {
      auto body = intent_json(*status, delivery_, *store_.snapshot());
      try {
        const auto runs =
            co_await reader_.call([&key](Store& store) { return store.intent_hook_runs(key); });
        if (!runs.empty()) body["hooks"] = hook_runs_json(runs);
      } catch (const std::exception& e) {
        log::warning("storage_error", "op=intent_hook_runs error={}", log::quote(e.what()));
      }
      co_return json_response(request, http::status::ok, body);
    }
    co_await progress_.wait_until(deadline, seen);
  }
}

boost::asio::awaitable<HttpResponseMessage> Api::status(const HttpRequestMessage& request) {
  const auto snapshot = store_.snapshot();
  json::object body = delivery_.status_json(*snapshot);
  body["failed_items"] = snapshot->counts.total(TargetState::failed);
  const auto stats = store_.stats();
  const bool postgres = config_->storage.backend == Config::Storage::Backend::postgres;
  // The dsn never holds a password (config refuses one), so it may be shown.
  body["storage"] = json::object{
      {"backend", postgres ? "postgres" : "sqlite"},
      {postgres ? "dsn" : "path", postgres ? config_->storage.dsn : config_->storage.path},
      {"commits", stats.commits},
      {"jobs", stats.jobs},
      {"failed_commits", stats.failed_commits},
      {"size_bytes", snapshot->size_bytes},
      {"max_pending_items", config_->storage.max_pending_items}};
  if (store_.shared()) {
    // Several daemons may share this store: which one this is (the accounts say who sends).
    body["storage"].as_object()["node"] = config_->storage.node;
    body["storage"].as_object()["host_id"] = store_.host_id();
    body["storage"].as_object()["conflicts"] = stats.conflicts;
  }
  body["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  body["version"] = PURGEQ_VERSION;
  if (!config_->hooks.empty()) {
    // Runs of completion hooks by state, from counts the store keeps (no scan).
    json::object hooks{
        {"waiting", 0}, {"pending", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}};
    try {
      const auto counts = co_await reader_.call([](Store& store) { return store.hook_counts(); });
      for (const auto& count : counts) {
        auto& n = hooks[hook_state_name(count.state)];
        n = n.as_int64() + count.n;
      }
    } catch (const std::exception& e) {
      log::warning("storage_error", "op=hook_counts error={}", log::quote(e.what()));
    }
    body["hooks"] = std::move(hooks);
  }
  co_return json_response(request, http::status::ok, body);
}

boost::asio::awaitable<HttpResponseMessage> Api::failed(const HttpRequestMessage& request,
                                                        const Peer& peer) {
  if (auto denied = co_await require_admin(peer, "GET /v1/failed")) {
    co_return error_response(request, http::status::forbidden, denied->code, denied->message);
  }
  std::vector<FailedTarget> failed;
  try {
    failed =
        co_await reader_.call([](Store& store) { return store.failed_targets(kFailedListLimit); });
  } catch (const std::exception& e) {
    co_return error_response(request, http::status::service_unavailable, "storage_unavailable",
                             e.what());
  }
  json::array items;
  for (const auto& f : failed) {
    items.push_back(json::object{{"id", f.id},
                                 {"zone", zone_name_of(*config_, f.zone_id)},
                                 {"kind", to_string(f.kind)},
                                 {"item", f.item},
                                 {"code", f.code},
                                 {"message", f.message},
                                 {"failed_at", rfc3339_utc(f.failed_ms)}});
  }
  co_return json_response(request, http::status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<HttpResponseMessage> Api::retry_failed(const HttpRequestMessage& request,
                                                              const Peer& peer) {
  if (auto denied = co_await require_admin(peer, "POST /v1/failed/retry")) {
    co_return error_response(request, http::status::forbidden, denied->code, denied->message);
  }
  // In steps, each its own commit, so a million failed items do not hold up submissions.
  constexpr std::int64_t kStep = 5000;
  std::int64_t count = 0;
  const auto now = wall_ms();
  try {
    for (;;) {
      const auto moved =
          co_await store_.call([now](Store& store) { return store.retry_failed_step(now, kStep); });
      count += moved;
      if (moved > 0) delivery_.wake();
      if (moved < kStep) break;
    }
  } catch (const std::exception& e) {
    co_return error_response(request, http::status::service_unavailable, "storage_unavailable",
                             fmt::format("{} (after requeueing {} items)", e.what(), count));
  }
  log::notice("failed_requeued", "items={}", count);
  progress_.notify_all();
  co_return json_response(request, http::status::ok, json::object{{"requeued", count}});
}

boost::asio::awaitable<HttpResponseMessage> Api::healthz(const HttpRequestMessage& request) {
  try {
    const auto now = wall_ms();
    co_await store_.call([now](Store& store) {
      store.probe_write(now);
      return true;
    });
  } catch (const std::exception& e) {
    co_return error_response(request, http::status::service_unavailable, "storage_unavailable",
                             e.what());
  }
  co_return json_response(request, http::status::ok, json::object{{"status", "ok"}});
}

boost::asio::awaitable<HttpResponseMessage> Api::metrics(const HttpRequestMessage& request) {
  const auto snapshot = store_.snapshot();
  OldestPending oldest;
  try {
    std::vector<std::string> zones;
    for (const auto& [zone_id, groups] : snapshot->counts.zones) {
      if (snapshot->counts.zone_total(zone_id, TargetState::pending) > 0) zones.push_back(zone_id);
    }
    oldest = co_await reader_.call([&zones](Store& store) {
      OldestPending found;
      for (const auto& zone_id : zones) found[zone_id] = store.oldest_pending(zone_id);
      return found;
    });
  } catch (const std::exception& e) {
    log::warning("storage_error", "op=oldest_pending error={}", log::quote(e.what()));
  }
  std::vector<HookCount> hook_counts;
  if (!config_->hooks.empty()) {
    try {
      hook_counts = co_await reader_.call([](Store& store) { return store.hook_counts(); });
    } catch (const std::exception& e) {
      log::warning("storage_error", "op=hook_counts error={}", log::quote(e.what()));
    }
  }
  MetricsText text;
  render_counters(metrics_, text);
  if (!config_->hooks.empty()) {
    text.family("purgeq_hook_runs", "gauge",
                "Completion hook runs kept in the store, by hook and state (waiting, pending, "
                "running, succeeded, failed).");
    for (const auto& count : hook_counts) {
      text.sample("purgeq_hook_runs",
                  {{"hook", count.hook}, {"state", std::string(hook_state_name(count.state))}},
                  static_cast<double>(count.n));
    }
  }
  delivery_.render_gauges(text, *snapshot, oldest);
  const auto stats = store_.stats();
  text.family("purgeq_storage_commits_total", "counter",
              "SQLite transactions committed (each acknowledges every job in it).");
  text.sample("purgeq_storage_commits_total", {}, static_cast<double>(stats.commits));
  text.family("purgeq_storage_jobs_total", "counter", "Storage jobs run.");
  text.sample("purgeq_storage_jobs_total", {}, static_cast<double>(stats.jobs));
  text.family("purgeq_uptime_seconds", "gauge", "Seconds since purgeqd started.");
  text.sample("purgeq_uptime_seconds", {},
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  HttpResponseMessage response{http::status::ok, request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.body() = text.str();
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  co_return response;
}

}  // namespace purgeq
