// Prometheus text rendering of purgeq's counters.
#include "observe/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace purgeq {
namespace {

std::string escape_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<long long>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string before_le = labels.empty() ? "" : labels + ",";
  const std::string own = labels.empty() ? "" : "{" + labels + "}";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, before_le, format_value(bounds_[i]),
                       cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, before_le, cumulative);
  out += fmt::format("{}_sum{} {}\n", name, own, format_value(sum_));
  out += fmt::format("{}_count{} {}\n", name, own, count_);
}

void Metrics::observe_request(const std::string& account, double seconds) {
  // Cloudflare answers purges in tens of milliseconds; the tail up to the 30 s default timeout is
  // what an operator needs to see when it is slow.
  auto it = request_duration.find(account);
  if (it == request_duration.end()) {
    it = request_duration
             .try_emplace(account,
                          std::vector<double>{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})
             .first;
  }
  it->second.observe(seconds);
}

void MetricsText::family(const std::string& name, const std::string& type,
                         const std::string& help) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void MetricsText::sample(const std::string& name,
                         const std::vector<std::pair<std::string, std::string>>& labels,
                         double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += fmt::format("{}=\"{}\"", labels[i].first, escape_label(labels[i].second));
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void render_counters(const Metrics& m, MetricsText& text) {
  text.family("purgeq_build_info", "gauge", "Always 1; the version purgeqd was built as.");
  text.sample("purgeq_build_info", {{"version", PURGEQ_VERSION}}, 1);
  text.family("purgeq_intents_accepted_total", "counter", "Intents acknowledged (durable).");
  text.sample("purgeq_intents_accepted_total", {}, static_cast<double>(m.intents_accepted));
  text.family("purgeq_intents_rejected_total", "counter", "Intents refused, by error code.");
  for (const auto& [code, n] : m.intents_rejected) {
    text.sample("purgeq_intents_rejected_total", {{"code", code}}, static_cast<double>(n));
  }
  text.family("purgeq_client_auth_failures_total", "counter",
              "TCP requests refused for a missing or unknown client token, by reason.");
  for (const auto& reason : {"missing_token", "bad_token", "token_required"}) {
    const auto it = m.client_auth_failures.find(reason);
    text.sample("purgeq_client_auth_failures_total", {{"reason", reason}},
                it == m.client_auth_failures.end() ? 0 : static_cast<double>(it->second));
  }
  text.family("purgeq_items_accepted_total", "counter", "Items acknowledged, by zone and kind.");
  for (const auto& [key, n] : m.items_accepted) {
    text.sample("purgeq_items_accepted_total",
                {{"zone", key.first}, {"kind", std::string(to_string(key.second))}},
                static_cast<double>(n));
  }
  text.family("purgeq_requests_total", "counter",
              "Requests sent to Cloudflare, by account and outcome.");
  for (const auto& [key, n] : m.requests) {
    text.sample("purgeq_requests_total", {{"account", key.first}, {"outcome", key.second}},
                static_cast<double>(n));
  }
  // Every kind from the start, at 0: a rate over a series that appears only with the first purge
  // cannot tell "nothing purged" from "no data" (the PurgesStuck alert needs the former).
  const auto by_kind = [&text](const std::string& name,
                               const std::map<Kind, std::uint64_t>& counts) {
    for (int k = 0; k < kKindCount; ++k) {
      const auto kind = static_cast<Kind>(k);
      const auto it = counts.find(kind);
      text.sample(name, {{"kind", std::string(to_string(kind))}},
                  it == counts.end() ? 0.0 : static_cast<double>(it->second));
    }
  };
  text.family("purgeq_items_purged_total", "counter", "Items purged (named or covered), by kind.");
  by_kind("purgeq_items_purged_total", m.items_purged);
  text.family("purgeq_items_failed_total", "counter", "Items that ended failed, by kind.");
  by_kind("purgeq_items_failed_total", m.items_failed);
  text.family("purgeq_api_calls_saved_total", "counter",
              "Requests saved by coalescing versus one request per submitted item.");
  text.sample("purgeq_api_calls_saved_total", {}, static_cast<double>(m.api_calls_saved));
  text.family("purgeq_escalations_total", "counter",
              "Cost-based escalations: pending URLs replaced by one prefix purge, by zone.");
  for (const auto& [zone, n] : m.escalations) {
    text.sample("purgeq_escalations_total", {{"zone", zone}}, static_cast<double>(n));
  }
  text.family("purgeq_rate_limited_total", "counter", "HTTP 429 answers from Cloudflare.");
  text.sample("purgeq_rate_limited_total", {}, static_cast<double>(m.rate_limited));
  text.family("purgeq_retries_scheduled_total", "counter", "Batches scheduled for a retry.");
  text.sample("purgeq_retries_scheduled_total", {}, static_cast<double>(m.retries_scheduled));
  text.family("purgeq_purge_latency_seconds", "histogram",
              "Time from acceptance to a successful purge.");
  std::string hist;
  m.purge_latency.render(hist, "purgeq_purge_latency_seconds");
  text.raw(hist);
  text.family("purgeq_request_duration_seconds", "histogram",
              "Time from sending a request to Cloudflare to its answer, by account.");
  hist.clear();
  for (const auto& [account, histogram] : m.request_duration) {
    histogram.render(hist, "purgeq_request_duration_seconds",
                     fmt::format("account=\"{}\"", escape_label(account)));
  }
  text.raw(hist);
  text.family("purgeq_hook_runs_total", "counter",
              "Completion hook attempts by hook and outcome: succeeded, retried or failed (its "
              "last attempt failed).");
  for (const auto& [key, n] : m.hook_runs) {
    text.sample("purgeq_hook_runs_total", {{"hook", key.first}, {"outcome", key.second}},
                static_cast<double>(n));
  }
  text.family("purgeq_zone_lookups_total", "counter",
              "Zone lookups by name or id with the account's token, by outcome: found, refused "
              "(zone not found for the token, token refused) or outage.");
  for (const auto& [outcome, n] : m.zone_lookups) {
    text.sample("purgeq_zone_lookups_total", {{"outcome", outcome}}, static_cast<double>(n));
  }
}

}  // namespace purgeq
