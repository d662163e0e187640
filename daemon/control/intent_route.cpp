// An intent's status as JSON, and the long-poll around it.
#include "control/intent_route.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>

#include "model/people_text.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

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
      auto entry = delivery.waiting_for(zone_id, status.lane, snapshot);
      // The sentence `purgeq show` prints for it, so the status page need not write it again.
      entry["sentence"] = format_waiting(entry);
      waiting.push_back(std::move(entry));
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

}  // namespace

std::variant<int, IntakeError> wait_seconds_of(std::string_view query) {
  // Boost.URL 1.81's parse_query measures its input again with strlen (it rebuilds a view from
  // s.data()), so the view into the request target would run on into the rest of the request:
  // hand it a NUL-terminated copy.
  const std::string terminated(query);
  const auto params = boost::urls::parse_query(terminated);
  if (!params) {
    return IntakeError{
        ErrorCode::invalid_query, fmt::format("query string {} is not valid", quote(query)), {}};
  }
  const boost::urls::params_view decoded = *params;
  const auto it = decoded.find("wait");
  if (it == decoded.end()) return 0;
  const std::string wait = (*it).value;
  int value = 0;
  const auto [ptr, ec] = std::from_chars(wait.data(), wait.data() + wait.size(), value);
  if (ec != std::errc() || ptr != wait.data() + wait.size() || value < 0) {
    return IntakeError{ErrorCode::invalid_wait,
                       fmt::format("wait: \"{}\" is not a whole number of seconds", wait),
                       {}};
  }
  return std::min(value, kMaxWaitSeconds);
}

IntentRoute::IntentRoute(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery,
                         AdminGate& admin, ProgressSignal& progress)
    : store_(store), reader_(reader), delivery_(delivery), admin_(admin), progress_(progress) {}

void IntentRoute::stop() {
  stopping_ = true;
  progress_.notify_all();
}

boost::asio::awaitable<HttpResponseMessage> IntentRoute::get(const HttpRequestMessage& request,
                                                             const Peer& peer, std::string_view id,
                                                             std::string_view query,
                                                             const Config& config,
                                                             IntentReader reader) {
  const auto refuse = [&request](const IntakeError& error) {
    return error_response(request, ErrorDialect::native,
                          ErrorAnswer{error.code, error.message, error.item});
  };
  auto wait = wait_seconds_of(query);
  if (const auto* error = std::get_if<IntakeError>(&wait)) co_return refuse(*error);
  const int wait_seconds = std::get<int>(wait);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  const std::string key(id);
  bool owner_checked = reader == IntentReader::status_client;
  for (;;) {
    std::optional<IntentStatus> status;
    // Read before the query: progress committed while it runs then ends the wait at once.
    const auto seen = progress_.epoch();
    try {
      // By reference: GCC 12 double-destroys non-trivial lambda captures inside co_await
      // expressions; `key` lives in this frame until the call returns.
      status = co_await reader_.call([&key](Store& store) { return store.intent_status(key); });
    } catch (const std::exception& e) {
      co_return refuse(IntakeError{ErrorCode::storage_unavailable, e.what(), {}});
    }
    if (!status) {
      co_return refuse(IntakeError{ErrorCode::unknown_intent,
                                   fmt::format("no intent with id \"{}\"", bounded_item(key)),
                                   bounded_item(key)});
    }
    // Once: the submitter does not change while we wait.
    if (!owner_checked) {
      owner_checked = true;
      if (peer.uid < 0 || status->peer.uid != peer.uid) {
        if (auto denied = co_await admin_.check(config, peer, "reading another user's intent")) {
          co_return refuse(IntakeError{denied->code, denied->message, {}});
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

}  // namespace purgeq
