// Exit codes and human summaries for purgeqd's answers. Tolerant readers: the daemon may add or
// drop members between versions, and a summary must never fail because one is missing.
#include "cli/cli_output.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdint>
#include <optional>

#include "cli/cli_args.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

const json::value* member(const json::value& value, std::string_view key) {
  const auto* object = value.if_object();
  return object == nullptr ? nullptr : object->if_contains(key);
}

std::optional<std::int64_t> int_member(const json::value& value, std::string_view key) {
  const auto* m = member(value, key);
  if (m == nullptr) return std::nullopt;
  if (m->is_int64()) return m->get_int64();
  if (m->is_uint64()) return static_cast<std::int64_t>(m->get_uint64());
  if (m->is_double()) return static_cast<std::int64_t>(m->get_double());
  return std::nullopt;
}

std::optional<double> number_member(const json::value& value, std::string_view key) {
  const auto* m = member(value, key);
  if (m == nullptr || !m->is_number()) return std::nullopt;
  return m->to_number<double>();
}

std::string string_member(const json::value& value, std::string_view key) {
  const auto* m = member(value, key);
  if (m == nullptr || !m->is_string()) return {};
  return std::string(m->get_string());
}

bool bool_member(const json::value& value, std::string_view key) {
  const auto* m = member(value, key);
  return m != nullptr && m->is_bool() && m->get_bool();
}

std::int64_t count_of(const json::value& value, std::string_view key) {
  return int_member(value, key).value_or(0);
}

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// "3d 4h", "3h 12m", "5m 3s", "42s": coarse on purpose, it's for a glance.
std::string format_duration(std::int64_t seconds) {
  if (seconds >= 86400) return fmt::format("{}d {}h", seconds / 86400, seconds % 86400 / 3600);
  if (seconds >= 3600) return fmt::format("{}h {}m", seconds / 3600, seconds % 3600 / 60);
  if (seconds >= 60) return fmt::format("{}m {}s", seconds / 60, seconds % 60);
  return fmt::format("{}s", seconds);
}

// "  failed file https://a/x : 1015 Unable to purge" for each entry of the intent's errors.
std::string format_errors(const json::value& intent) {
  std::string out;
  const auto* errors = member(intent, "errors");
  if (errors == nullptr || !errors->is_array()) return out;
  for (const auto& error : errors->get_array()) {
    const auto kind = string_member(error, "kind");
    const auto code = int_member(error, "code");
    const auto message = string_member(error, "message");
    out += fmt::format("  failed {}{}{} :", kind, kind.empty() ? "" : " ",
                       string_member(error, "item"));
    if (code && *code != 0) out += fmt::format(" {}", *code);
    if (!message.empty()) out += fmt::format(" {}", message);
    out += '\n';
  }
  return out;
}

// The daemon's {"error": {"message", "item"}}, with the item added when the message lacks it.
std::string error_text(const json::value& body) {
  const auto* error = member(body, "error");
  if (error == nullptr) return {};
  auto message = string_member(*error, "message");
  const auto item = string_member(*error, "item");
  if (message.empty()) message = string_member(*error, "code");
  if (!item.empty() && message.find(item) == std::string::npos) {
    message += fmt::format("{}\"{}\"", message.empty() ? "" : ": ", item);
  }
  return message;
}

}  // namespace

bool is_terminal(std::string_view intent_status) {
  return intent_status == "done" || intent_status == "failed" || intent_status == "partial";
}

Verdict answer_verdict(unsigned http_status, const json::value& body) {
  if (http_status >= 200 && http_status < 300) return {kExitOk, {}};
  const auto text = error_text(body);
  const auto or_status = [&](std::string_view fallback) {
    return text.empty() ? std::string(fallback) : text;
  };
  switch (http_status) {
    case 400:
      return {kExitUsage, fmt::format("rejected: {}", or_status("invalid request (HTTP 400)"))};
    case 403:
      return {kExitUsage, fmt::format("refused: {}", or_status("not allowed (HTTP 403)"))};
    case 404:
      return {kExitUsage, or_status("not found (HTTP 404)")};
    case 413:
      return {kExitUsage,
              "rejected: the request is larger than purgeqd accepts (HTTP 413); split the items "
              "over several commands"};
    case 503:
      return {kExitUnreachable, fmt::format("purgeqd cannot take requests now: {}; try again",
                                            or_status("service unavailable (HTTP 503)"))};
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) {
    return {kExitUsage, fmt::format("purgeqd refused the request (HTTP {}){}{}", http_status,
                                    text.empty() ? "" : ": ", text)};
  }
  if (http_status >= 500 && http_status < 600) {
    return {kExitUnreachable, fmt::format("purgeqd failed (HTTP {}){}{}", http_status,
                                          text.empty() ? "" : ": ", text)};
  }
  return {kExitUnreachable, fmt::format("unexpected answer from purgeqd (HTTP {})", http_status)};
}

Verdict intent_verdict(const json::value& intent, bool timed_out) {
  const auto status = string_member(intent, "status");
  if (status == "done") return {kExitOk, {}};
  if (status == "failed" || status == "partial") return {kExitItemsFailed, {}};
  if (!timed_out) return {kExitOk, {}};
  const auto* items = member(intent, "items");
  const json::value none;
  const auto& counts = items != nullptr ? *items : none;
  return {kExitTimedOut,
          fmt::format("timed out waiting for intent {}: still {} ({} purged, {} failed, {} "
                      "pending)",
                      string_member(intent, "id"), status.empty() ? "unknown" : status,
                      count_of(counts, "done"), count_of(counts, "failed"),
                      count_of(counts, "queued") + count_of(counts, "in_flight"))};
}

std::string format_accepted(const json::value& answer) {
  return fmt::format("queued {} as intent {}\n", plural(count_of(answer, "items"), "item", "items"),
                     string_member(answer, "id"));
}

std::string format_outcome(const json::value& intent) {
  const auto status = string_member(intent, "status");
  const auto* items = member(intent, "items");
  const json::value none;
  const auto& counts = items != nullptr ? *items : none;
  const auto done = count_of(counts, "done");
  const auto failed = count_of(counts, "failed");
  std::string out;
  if (status == "done") {
    out = fmt::format("done: {} purged\n", done);
  } else if (status == "failed" || status == "partial") {
    out = fmt::format("{}: {} purged, {} failed\n", status, done, failed);
  } else {
    out = fmt::format("{}: {} purged, {} failed, {} pending\n", status.empty() ? "unknown" : status,
                      done, failed, count_of(counts, "queued") + count_of(counts, "in_flight"));
  }
  return out + format_errors(intent);
}

std::string format_intent(const json::value& intent) {
  const auto* items = member(intent, "items");
  const json::value none;
  const auto& counts = items != nullptr ? *items : none;
  const auto created = string_member(intent, "created_at");
  std::string out =
      fmt::format("intent {}: {}", string_member(intent, "id"), string_member(intent, "status"));
  if (!created.empty()) out += fmt::format(" (created {})", created);
  out += '\n';
  out += fmt::format("  {}: {} queued, {} in flight, {} purged, {} failed\n",
                     plural(count_of(counts, "total"), "item", "items"), count_of(counts, "queued"),
                     count_of(counts, "in_flight"), count_of(counts, "done"),
                     count_of(counts, "failed"));
  return out + format_errors(intent);
}

std::string format_status(const json::value& status) {
  std::string out = "purgeqd";
  if (const auto version = string_member(status, "version"); !version.empty()) {
    out += ' ' + version;
  }
  if (const auto uptime = int_member(status, "uptime_seconds")) {
    out += fmt::format(", up {}", format_duration(*uptime));
  }
  if (bool_member(status, "dry_run")) out += ", dry run (batches are logged, not sent)";
  out += '\n';

  // Queue: {"zone": {"file": 10, "tag": 2, "in_flight": 1}, ...}
  std::string zones;
  std::int64_t total = 0;
  if (const auto* queue = member(status, "queue"); queue != nullptr && queue->is_object()) {
    for (const auto& [zone, kinds] : queue->get_object()) {
      if (!kinds.is_object()) continue;
      std::string line;
      for (const auto& [kind, count] : kinds.get_object()) {
        if (kind == "in_flight" || !count.is_number()) continue;
        const auto n = count.to_number<std::int64_t>();
        total += n;
        line += fmt::format("{}{} {}", line.empty() ? "" : ", ", n, std::string_view(kind));
      }
      const auto in_flight = count_of(kinds, "in_flight");
      if (in_flight > 0) {
        line += fmt::format("{}{} in flight", line.empty() ? "" : ", ", in_flight);
      }
      if (!line.empty()) zones += fmt::format("  {}: {}\n", std::string_view(zone), line);
    }
  }
  out += fmt::format("queue: {} pending", int_member(status, "pending").value_or(total));
  if (const auto requests = int_member(status, "requests_in_flight")) {
    out += fmt::format(", {} in flight", plural(*requests, "request", "requests"));
  }
  if (const auto next = int_member(status, "next_dispatch_in_ms")) {
    out += fmt::format(", next dispatch in {} ms", *next);
  }
  out += '\n' + zones;

  if (const auto failed = int_member(status, "failed_items")) {
    out +=
        fmt::format("failed items: {}{}\n", *failed,
                    *failed > 0 ? " (purgeq failed lists them, purgeq retry-failed requeues)" : "");
  }
  if (const auto storage_error = string_member(status, "storage_error"); !storage_error.empty()) {
    out += fmt::format("storage: {}\n", storage_error);
  }

  if (const auto* accounts = member(status, "accounts");
      accounts != nullptr && accounts->is_object()) {
    for (const auto& [name, account] : accounts->get_object()) {
      std::string state = "ok";
      if (bool_member(account, "paused")) {
        const auto reason = string_member(account, "pause_reason");
        state = reason.empty() ? "paused" : fmt::format("paused: {}", reason);
      } else if (const auto limited = number_member(account, "rate_limited_for_ms");
                 limited && *limited > 0) {
        state = fmt::format("rate limited for {:.1f}s", *limited / 1000.0);
      }
      out += fmt::format("account {}: {}\n", std::string_view(name), state);
    }
  }

  if (const auto* errors = member(status, "recent_errors");
      errors != nullptr && errors->is_array() && !errors->get_array().empty()) {
    const auto& latest = errors->get_array().back();
    std::string detail;
    if (const auto zone = string_member(latest, "zone"); !zone.empty()) detail += zone;
    if (const auto http = int_member(latest, "status"); http && *http != 0) {
      detail += fmt::format("{}HTTP {}", detail.empty() ? "" : ", ", *http);
    }
    if (const auto code = int_member(latest, "code"); code && *code != 0) {
      detail += fmt::format("{}{}", detail.empty() ? "" : ", ", *code);
    }
    if (const auto message = string_member(latest, "message"); !message.empty()) {
      detail += fmt::format("{}{}", detail.empty() ? "" : " ", message);
    }
    out += fmt::format("recent upstream errors: {}{}\n", errors->get_array().size(),
                       detail.empty() ? "" : fmt::format(" (latest: {})", detail));
  }
  return out;
}

std::string format_failed(const json::value& failed) {
  const auto* items = member(failed, "items");
  if (items == nullptr || !items->is_array() || items->get_array().empty()) {
    return "no failed items\n";
  }
  std::string out;
  for (const auto& item : items->get_array()) {
    const auto code = int_member(item, "code");
    const auto message = string_member(item, "message");
    out += fmt::format("{}  {}  {}  {} :", string_member(item, "failed_at"),
                       string_member(item, "zone"), string_member(item, "kind"),
                       string_member(item, "item"));
    if (code && *code != 0) out += fmt::format(" {}", *code);
    if (!message.empty()) out += fmt::format(" {}", message);
    out += '\n';
  }
  out += fmt::format(
      "{} (purgeq retry-failed requeues them)\n",
      plural(static_cast<std::int64_t>(items->get_array().size()), "failed item", "failed items"));
  return out;
}

std::string format_requeued(const json::value& answer) {
  return fmt::format("requeued {}\n",
                     plural(count_of(answer, "requeued"), "failed item", "failed items"));
}

}  // namespace purgeq::cli
