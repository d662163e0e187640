// Status, metrics and health.
#include "control/status_routes.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {

namespace http = boost::beast::http;
namespace json = boost::json;

StatusRoutes::StatusRoutes(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery,
                           Metrics& metrics)
    : store_(store),
      reader_(reader),
      delivery_(delivery),
      metrics_(metrics),
      started_(std::chrono::steady_clock::now()) {}

boost::asio::awaitable<HttpResponseMessage> StatusRoutes::status(const HttpRequestMessage& request,
                                                                 const Config& config) {
  const auto snapshot = store_.snapshot();
  json::object body = delivery_.status_json(*snapshot);
  body["failed_items"] = snapshot->counts.total(TargetState::failed);
  const auto stats = store_.stats();
  const bool postgres = config.storage.backend == Config::Storage::Backend::postgres;
  // The dsn never holds a password (config refuses one), so it may be shown.
  body["storage"] =
      json::object{{"backend", postgres ? "postgres" : "sqlite"},
                   {postgres ? "dsn" : "path", postgres ? config.storage.dsn : config.storage.path},
                   {"commits", stats.commits},
                   {"jobs", stats.jobs},
                   {"failed_commits", stats.failed_commits},
                   {"size_bytes", snapshot->size_bytes},
                   {"disk_full", snapshot->disk_full},
                   {"max_pending_items", config.storage.max_pending_items}};
  if (store_.shared()) {
    // Several daemons may share this store: which one this is (the accounts say who sends).
    body["storage"].as_object()["node"] = config.storage.node;
    body["storage"].as_object()["host_id"] = store_.host_id();
    body["storage"].as_object()["conflicts"] = stats.conflicts;
  }
  body["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  body["version"] = PURGEQ_VERSION;
  if (!config.hooks.empty()) {
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

HttpResponseMessage StatusRoutes::history(const HttpRequestMessage& request) const {
  // The current second is still counting: the chart would show a dip that is not there.
  const auto window = metrics_.history.last(wall_ms() / 1000 - 1);
  json::object series;
  for (std::size_t f = 0; f < kFlowCount; ++f) {
    const auto& counts = window.series[f];
    series[to_string(static_cast<Flow>(f))] = json::array(counts.begin(), counts.end());
  }
  return json_response(request, http::status::ok,
                       json::object{{"step_s", 1},
                                    {"seconds", ThroughputHistory::kSeconds},
                                    {"end_ms", (window.end_s + 1) * 1000},
                                    {"series", std::move(series)}});
}

boost::asio::awaitable<HttpResponseMessage> StatusRoutes::healthz(
    const HttpRequestMessage& request) {
  try {
    const auto now = wall_ms();
    co_await store_.call([now](Store& store) {
      store.probe_write(now);
      return true;
    });
  } catch (const std::exception& e) {
    co_return error_response(request, ErrorDialect::native,
                             ErrorAnswer{ErrorCode::storage_unavailable, e.what()});
  }
  co_return json_response(request, http::status::ok, json::object{{"status", "ok"}});
}

boost::asio::awaitable<HttpResponseMessage> StatusRoutes::metrics(const HttpRequestMessage& request,
                                                                  const Config& config) {
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
  if (!config.hooks.empty()) {
    try {
      hook_counts = co_await reader_.call([](Store& store) { return store.hook_counts(); });
    } catch (const std::exception& e) {
      log::warning("storage_error", "op=hook_counts error={}", log::quote(e.what()));
    }
  }
  MetricsText text;
  render_counters(metrics_, text);
  if (!config.hooks.empty()) {
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
  text.family("purgeq_storage_reserve_in_use", "gauge",
              "1 while the disk is full and the space kept in reserve is in use: new intents get "
              "503 disk_full until space returns.");
  text.sample("purgeq_storage_reserve_in_use", {}, snapshot->disk_full ? 1.0 : 0.0);
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
