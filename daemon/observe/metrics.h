// Counters and histograms for GET /metrics, rendered in Prometheus' text exposition format 0.0.4.
// Gauges that describe current state (queue depth, pauses) are computed at scrape time by their
// owners and passed to render(); this registry only holds what accumulates.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/item.h"
#include "observe/throughput_history.h"

namespace purgeq {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends the _bucket/_sum/_count lines of family `name` with extra `labels` ("" or "a=\"b\"").
  void render(std::string& out, const std::string& name, const std::string& labels = "") const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // one per bound, plus +Inf last
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

struct Metrics {
  // items accepted, by zone name and kind
  std::map<std::pair<std::string, Kind>, std::uint64_t> items_accepted;
  std::uint64_t intents_accepted = 0;
  std::map<std::string, std::uint64_t> intents_rejected;  // by error code
  // TCP requests refused before their body was read: missing_token, bad_token.
  std::map<std::string, std::uint64_t> client_auth_failures;
  // requests sent to Cloudflare by account and outcome: success, rate_limited, rejected,
  // auth_error, zone_error, server_error, transport_error, dry_run
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests;
  // Seconds from sending a request to Cloudflare to its answer (or transport failure), by account.
  std::map<std::string, Histogram> request_duration;
  void observe_request(const std::string& account, double seconds);
  std::map<Kind, std::uint64_t> items_purged;
  std::map<Kind, std::uint64_t> items_failed;
  // Requests a naive one-request-per-item client would have sent beyond what purgeq sent.
  std::uint64_t api_calls_saved = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t retries_scheduled = 0;
  // Completion hook attempts by hook and outcome: succeeded, retried, failed (attempts spent).
  std::map<std::pair<std::string, std::string>, std::uint64_t> hook_runs;
  Histogram purge_latency{{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400}};
  // Cost-based escalations (pending URLs replaced by one prefix purge), by zone name.
  std::map<std::string, std::uint64_t> escalations;
  // The same flows per second over the last 15 minutes, for the status page's chart.
  ThroughputHistory history;
  // Zone lookups and refreshes (docs/configuration.md, "Zones by name") by outcome: found,
  // refused (token refused or zone not found for it), outage.
  std::map<std::string, std::uint64_t> zone_lookups;
};

// Writers for one exposition; keeps HELP/TYPE lines and label escaping in one place.
class MetricsText {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels, double value);
  void raw(const std::string& text) { out_ += text; }
  [[nodiscard]] const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// Renders the accumulated metrics (the caller adds its gauges to `text` before or after).
void render_counters(const Metrics& metrics, MetricsText& text);

}  // namespace purgeq
