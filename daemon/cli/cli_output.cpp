// Exit codes and human summaries for purgeqd's answers. Tolerant readers: the daemon may add or
// drop members between versions, and a summary must never fail because one is missing.
#include "cli/cli_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "cli/intent_chunks.h"
#include "model/item.h"
#include "model/json_read.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;
using json_read::bool_member;
using json_read::int_member;
using json_read::member;
using json_read::number_member;
using json_read::string_member;

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

// "10:02:11Z" for a time under a day ago, else "2026-11-25 10:02:11Z" (UTC, like format_since).
std::string format_wall_ms(std::int64_t at_ms, std::int64_t now_ms) {
  const std::time_t seconds = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return std::to_string(at_ms);
  const auto clock = fmt::format("{:02}:{:02}:{:02}Z", tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (now_ms - at_ms < 86'400'000) return clock;
  return fmt::format("{:04}-{:02}-{:02} {}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, clock);
}

// "HTTP 502 code 1234: message", "HTTP 500", or the message alone for errors without an answer
// (connection refused, timeout).
std::string upstream_error_text(const json::value& error) {
  const auto message = string_member(error, "message");
  const auto http = int_member(error, "status").value_or(0);
  if (http <= 0) return message.empty() ? string_member(error, "verdict") : message;
  std::string out = fmt::format("HTTP {}", http);
  if (const auto code = int_member(error, "code").value_or(0); code != 0) {
    out += fmt::format(" code {}", code);
  }
  if (!message.empty()) out += ": " + message;
  return out;
}

// status["zones"][zone], where per-zone figures may live outside the queue counts.
const json::value& zone_status(const json::value& status, std::string_view zone) {
  static const json::value kNone;
  const auto* zones = member(status, "zones");
  const auto* entry = zones != nullptr ? member(*zones, zone) : nullptr;
  return entry != nullptr ? *entry : kNone;
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

// "  covered by prefix www.example.com/blog/ (escalation 3): 500 items" for each broader request
// that completed some of the intent's items (its covered_by).
std::string format_covered_by(const json::value& intent) {
  std::string out;
  const auto* covered = member(intent, "covered_by");
  if (covered == nullptr || !covered->is_array()) return out;
  for (const auto& entry : covered->get_array()) {
    const auto kind = string_member(entry, "kind");
    out += "  covered by ";
    out += kind == "everything" ? std::string("purge_everything")
                                : fmt::format("{} {}", kind, string_member(entry, "value"));
    if (const auto escalation = int_member(entry, "escalation")) {
      out += fmt::format(" (escalation {})", *escalation);
    }
    out += fmt::format(": {}\n", plural(count_of(entry, "items"), "item", "items"));
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

std::vector<std::string> waiting_reasons(const json::value& intent) {
  std::vector<std::string> reasons;
  const auto* waiting = member(intent, "waiting_for");
  if (waiting == nullptr || !waiting->is_array()) return reasons;
  for (const auto& entry : waiting->get_array()) {
    auto reason = format_waiting(entry);
    if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) {
      reasons.push_back(std::move(reason));
    }
  }
  return reasons;
}

std::string format_progress(const json::value& intent, std::int64_t elapsed_seconds) {
  const auto* items = member(intent, "items");
  const json::value none;
  const auto& counts = items != nullptr ? *items : none;
  const auto failed = count_of(counts, "failed");
  std::string out =
      fmt::format("waiting {}: {} purged, {} pending", format_seconds(elapsed_seconds),
                  grouped(count_of(counts, "done")),
                  grouped(count_of(counts, "queued") + count_of(counts, "in_flight")));
  if (failed > 0) out += fmt::format(", {} failed", grouped(failed));
  const auto reasons = waiting_reasons(intent);
  if (!reasons.empty()) out += "; " + reasons.front();
  if (reasons.size() > 1) out += fmt::format(" (+{} more)", reasons.size() - 1);
  return out;
}

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
      // purgeqd names the limit (intake.max_items_per_intent, the body cap); without its reason
      // the size is all there is to go on.
      return {kExitUsage,
              text.empty()
                  ? fmt::format("rejected: the request is larger than purgeqd accepts (HTTP 413, "
                                "no reason given); purgeq cuts item lists into intents of at most "
                                "{} items and {} MiB, so purgeqd's limits must be lower",
                                kDaemonMaxItems, kDaemonMaxBodyBytes >> 20)
                  : fmt::format("rejected (HTTP 413): {}", text)};
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
  const auto* ids = member(intent, "ids");
  const bool several = ids != nullptr && ids->is_array() && ids->get_array().size() > 1;
  auto error = fmt::format(
      "timed out waiting for {} {}: still {} ({} purged, {} failed, {} pending)",
      several ? "intents" : "intent", string_member(intent, "id"),
      status.empty() ? "unknown" : status, count_of(counts, "done"), count_of(counts, "failed"),
      count_of(counts, "queued") + count_of(counts, "in_flight"));
  for (const auto& reason : waiting_reasons(intent)) error += "\n  waiting: " + reason;
  return {kExitTimedOut, std::move(error)};
}

std::string format_accepted(const json::value& answer) {
  std::string notes;
  // Otherwise "queued 3 items" for one URL reads like a mistake.
  if (const auto* variants = member(answer, "variants"); variants != nullptr) {
    notes = fmt::format(
        " ({} expanded to {})", plural(count_of(*variants, "urls"), "URL", "URLs"),
        plural(count_of(*variants, "items"), "cache-key variant", "cache-key variants"));
  }
  // The lane is news only when it is not the default one.
  if (const auto priority = string_member(answer, "priority");
      !priority.empty() && priority != "normal") {
    notes += fmt::format(" (priority {})", priority);
  }
  const auto* intents = member(answer, "intents");
  if (intents != nullptr && intents->is_array() && intents->get_array().size() > 1) {
    std::string ids;
    for (const auto& intent : intents->get_array()) {
      ids += fmt::format("{}{}", ids.empty() ? "" : ", ", string_member(intent, "id"));
    }
    return fmt::format("queued {} as {} intents{}: {}\n",
                       plural(count_of(answer, "items"), "item", "items"),
                       intents->get_array().size(), notes, ids);
  }
  return fmt::format("queued {} as intent {}{}\n",
                     plural(count_of(answer, "items"), "item", "items"),
                     string_member(answer, "id"), notes);
}

json::value merge_receipts(const std::vector<json::value>& answers) {
  if (answers.size() == 1) return answers.front();
  std::int64_t items = 0;
  std::int64_t urls = 0;
  std::int64_t variant_items = 0;
  bool variants = false;
  json::array intents;
  for (const auto& answer : answers) {
    items += count_of(answer, "items");
    if (const auto* v = member(answer, "variants"); v != nullptr) {
      variants = true;
      urls += count_of(*v, "urls");
      variant_items += count_of(*v, "items");
    }
    intents.push_back(answer);
  }
  json::object merged{{"intents", std::move(intents)}, {"items", items}};
  if (variants) merged["variants"] = json::object{{"urls", urls}, {"items", variant_items}};
  // One command, one lane: every intent carries the same priority.
  if (!answers.empty()) {
    if (const auto priority = string_member(answers.front(), "priority"); !priority.empty()) {
      merged["priority"] = priority;
    }
  }
  return merged;
}

json::value merge_intents(const std::vector<json::value>& intents) {
  if (intents.size() == 1) return intents.front();
  std::string ids_text;
  json::array ids;
  json::array errors;
  json::array waiting;
  json::object counts;
  bool all_done = true;
  bool all_failed = true;
  bool all_ended = true;
  bool any_in_flight = false;
  for (const auto& intent : intents) {
    const auto id = string_member(intent, "id");
    ids_text += fmt::format("{}{}", ids_text.empty() ? "" : ", ", id);
    ids.emplace_back(id);
    const auto status = string_member(intent, "status");
    all_done = all_done && status == "done";
    all_failed = all_failed && status == "failed";
    all_ended = all_ended && is_terminal(status);
    any_in_flight = any_in_flight || status == "in_flight";
    if (const auto* items = member(intent, "items"); items != nullptr && items->is_object()) {
      for (const auto& [state, n] : items->get_object()) {
        counts[state] = count_of(counts, state) + count_of(*items, state);
      }
    }
    for (const auto* key : {"errors", "waiting_for"}) {
      const auto* list = member(intent, key);
      if (list == nullptr || !list->is_array()) continue;
      auto& to = std::string_view(key) == "errors" ? errors : waiting;
      for (const auto& entry : list->get_array()) to.push_back(entry);
    }
  }
  const std::string_view status = all_done        ? "done"
                                  : all_failed    ? "failed"
                                  : all_ended     ? "partial"
                                  : any_in_flight ? "in_flight"
                                                  : "queued";
  return json::object{{"id", ids_text},
                      {"ids", std::move(ids)},
                      {"status", status},
                      {"items", std::move(counts)},
                      {"errors", std::move(errors)},
                      {"waiting_for", std::move(waiting)},
                      {"intents", json::array(intents.begin(), intents.end())}};
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

// "  hook warm: succeeded after 3 attempts" / "... failed after 2 attempts: timed out ..." for
// each of the intent's completion hooks.
std::string format_hooks(const json::value& intent) {
  std::string out;
  const auto* hooks = member(intent, "hooks");
  if (hooks == nullptr || !hooks->is_array()) return out;
  for (const auto& run : hooks->get_array()) {
    const auto state = string_member(run, "state");
    const auto attempts = count_of(run, "attempts");
    out += fmt::format("  hook {}: {}", string_member(run, "hook"), state);
    if (attempts > 0 && state != "running") {
      out += fmt::format(" after {}", plural(attempts, "attempt", "attempts"));
    } else if (attempts > 0) {
      out += fmt::format(" (attempt {})", attempts);
    }
    if (const auto next = string_member(run, "next_attempt_at"); !next.empty()) {
      out += fmt::format(", next attempt at {}", next);
    }
    if (const auto error = string_member(run, "last_error"); !error.empty()) {
      out += fmt::format(": {}", error);
    }
    out += '\n';
  }
  return out;
}

std::string format_intent(const json::value& intent) {
  const auto* items = member(intent, "items");
  const json::value none;
  const auto& counts = items != nullptr ? *items : none;
  const auto created = string_member(intent, "created_at");
  std::string out =
      fmt::format("intent {}: {}", string_member(intent, "id"), string_member(intent, "status"));
  if (const auto priority = string_member(intent, "priority"); !priority.empty()) {
    out += fmt::format(", priority {}", priority);
  }
  if (!created.empty()) out += fmt::format(" (created {})", created);
  out += '\n';
  out += fmt::format("  {}: {} queued, {} in flight, {} purged, {} failed\n",
                     plural(count_of(counts, "total"), "item", "items"), count_of(counts, "queued"),
                     count_of(counts, "in_flight"), count_of(counts, "done"),
                     count_of(counts, "failed"));
  out += format_errors(intent);
  out += format_covered_by(intent);
  for (const auto& reason : waiting_reasons(intent)) out += "  waiting: " + reason + '\n';
  out += format_hooks(intent);
  return out;
}

std::string format_account_state(std::string_view name, const json::value& account,
                                 const json::value& recent_errors, std::int64_t now_ms) {
  std::string state;
  if (bool_member(account, "paused")) {
    const auto reason = string_member(account, "pause_reason");
    state = reason.empty() ? "paused" : fmt::format("paused: {}", reason);
  }
  // This account's errors, oldest first: its own list when the daemon gives one, else the
  // status's shared list.
  std::vector<const json::value*> errors;
  const auto* own = member(account, "recent_errors");
  const auto* list = own != nullptr && own->is_array() ? own : &recent_errors;
  if (list->is_array()) {
    for (const auto& error : list->get_array()) {
      const auto of = string_member(error, "account");
      if (own != nullptr || of == name) errors.push_back(&error);
    }
  }
  const auto failures = int_member(account, "consecutive_failures").value_or(0);
  if (failures > 0 && state.empty()) {
    state = "upstream failing";
    auto since = int_member(account, "failing_since_ms");
    if (!since && !errors.empty()) {
      // The streak's first error: the failures-th last of the account's errors (or the oldest
      // kept, when the list holds fewer).
      const auto streak = std::min<std::size_t>(errors.size(), static_cast<std::size_t>(failures));
      since = int_member(*errors[errors.size() - streak], "at_ms");
    }
    std::string detail;
    if (since) {
      state += " since " + format_wall_ms(*since, now_ms);
      detail = fmt::format("{} ago, ", format_seconds((now_ms - *since) / 1000));
    }
    detail += plural(failures, "failed attempt", "failed attempts in a row");
    if (const auto backoff = int_member(account, "backoff_for_ms"); backoff && *backoff > 0) {
      detail += fmt::format("; next attempt in {}", format_seconds((*backoff + 999) / 1000));
    }
    if (!errors.empty()) detail += "; last error: " + upstream_error_text(*errors.back());
    state += " (" + detail + ")";
  }
  if (const auto limited = number_member(account, "rate_limited_for_ms"); limited && *limited > 0) {
    state +=
        fmt::format("{}rate limited for {:.1f} s", state.empty() ? "" : "; ", *limited / 1000.0);
  }
  return state.empty() ? std::string("ok") : state;
}

namespace {

// Zones by name (docs/configuration.md): one row per zone with its id, account, the plan
// Cloudflare reports and where the id came from; a zone being looked up says why it waits.
std::string format_zones_table(const json::value& status, std::int64_t now_ms) {
  const auto* zones = member(status, "zones");
  if (zones == nullptr || !zones->is_object() || zones->get_object().empty()) return {};
  std::vector<std::array<std::string, 6>> rows{
      {"zone", "id", "account", "plan", "source", "resolved"}};
  for (const auto& [name, zone] : zones->get_object()) {
    // Older daemons' `zones` held only drain estimates: no table of them.
    if (member(zone, "source") == nullptr) continue;
    auto id = string_member(zone, "id");
    auto plan = string_member(zone, "plan");
    std::string resolved = "-";
    if (const auto at = int_member(zone, "resolved_at_ms"); at && *at > 0) {
      resolved =
          fmt::format("{} ago", format_seconds(std::max<std::int64_t>(0, now_ms - *at) / 1000));
    }
    if (const auto error = string_member(zone, "lookup_error"); !error.empty()) {
      resolved = fmt::format("{}lookup failed: {}", resolved == "-" ? "" : resolved + "; ", error);
    }
    const auto account = string_member(zone, "account");
    // The account's plan in effect, when it is not the zone's own (zones on different plans).
    if (const auto* entry = member(status, "accounts"); entry != nullptr) {
      const auto* of = member(*entry, account);
      const auto paced = of != nullptr ? string_member(*of, "plan") : std::string();
      if (!paced.empty() && paced != plan) {
        plan = fmt::format("{} (paced as {})", plan.empty() ? "-" : plan, paced);
      }
    }
    rows.push_back({std::string(name), id.empty() ? "-" : id, account, plan.empty() ? "-" : plan,
                    string_member(zone, "source"), resolved});
  }
  if (rows.size() == 1) return {};
  std::array<std::size_t, 6> widths{};
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out = "zones:\n";
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += ' ';
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 1, ' ');
    }
    out += line + '\n';
  }
  return out;
}

}  // namespace

std::string format_status(const json::value& status, std::int64_t now_ms) {
  std::string out = "purgeqd";
  if (const auto version = string_member(status, "version"); !version.empty()) {
    out += ' ' + version;
  }
  if (const auto uptime = int_member(status, "uptime_seconds")) {
    out += fmt::format(", up {}", format_duration(*uptime));
  }
  if (bool_member(status, "dry_run")) out += ", dry run (batches are logged, not sent)";
  if (const auto* storage = member(status, "storage"); storage != nullptr) {
    if (const auto node = string_member(*storage, "node"); !node.empty()) {
      out += fmt::format(", node {} (host id {}) on a shared PostgreSQL queue", node,
                         int_member(*storage, "host_id").value_or(0));
    }
  }
  out += '\n';

  // Queue: {"zone": {"file": 10, "tag": 2, "in_flight": 1}, ...}
  std::string zones;
  std::int64_t total = 0;
  if (const auto* queue = member(status, "queue"); queue != nullptr && queue->is_object()) {
    for (const auto& [zone, kinds] : queue->get_object()) {
      if (!kinds.is_object()) continue;
      std::string line;
      for (const auto& [kind, count] : kinds.get_object()) {
        // Only kinds are counted: the zone's object also carries figures such as its drain
        // estimate.
        if (!kind_from_string(kind) || !count.is_number()) continue;
        const auto n = int_member(kinds, kind).value_or(0);
        total += n;
        line += fmt::format("{}{} {}", line.empty() ? "" : ", ", n, std::string_view(kind));
      }
      const auto in_flight = count_of(kinds, "in_flight");
      if (in_flight > 0) {
        line += fmt::format("{}{} in flight", line.empty() ? "" : ", ", in_flight);
      }
      if (line.empty()) continue;
      auto drain = int_member(kinds, "drain_estimate_s");
      if (!drain) drain = int_member(zone_status(status, zone), "drain_estimate_s");
      if (drain && *drain > 0) line += fmt::format("; drain: about {}", format_seconds(*drain));
      zones += fmt::format("  {}: {}\n", std::string_view(zone), line);
    }
  }
  const auto pending = int_member(status, "pending").value_or(total);
  out += fmt::format("queue: {} pending", pending);
  if (const auto requests = int_member(status, "requests_in_flight")) {
    out += fmt::format(", {} in flight", plural(*requests, "request", "requests"));
  }
  // The daemon keeps a timer armed (housekeeping) with an empty queue; that is no dispatch.
  if (const auto next = int_member(status, "next_dispatch_in_ms"); next && pending > 0) {
    out += fmt::format(", next dispatch in {} ms", *next);
  }
  out += '\n';
  // By lane only when something waits outside the default lane: "lanes: 10 high, 85000 normal".
  if (const auto* lanes = member(status, "pending_by_lane"); lanes != nullptr) {
    std::string line;
    bool others = false;
    for (const auto* lane : {"high", "normal", "bulk"}) {
      const auto n = count_of(*lanes, lane);
      if (n == 0) continue;
      others = others || std::string_view(lane) != "normal";
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", n, lane);
    }
    if (others) out += fmt::format("  lanes: {}\n", line);
  }
  out += zones;

  if (const auto failed = int_member(status, "failed_items")) {
    out +=
        fmt::format("failed items: {}{}\n", *failed,
                    *failed > 0 ? " (purgeq failed lists them, purgeq retry-failed requeues)" : "");
  }
  if (const auto* hooks = member(status, "hooks"); hooks != nullptr && hooks->is_object()) {
    out +=
        fmt::format("hook runs: {} pending, {} running, {} failed\n", count_of(*hooks, "pending"),
                    count_of(*hooks, "running"), count_of(*hooks, "failed"));
  }
  if (const auto storage_error = string_member(status, "storage_error"); !storage_error.empty()) {
    out += fmt::format("storage: {}\n", storage_error);
  }

  if (const auto* accounts = member(status, "accounts");
      accounts != nullptr && accounts->is_object()) {
    static const json::value kNoErrors;
    const auto* recent = member(status, "recent_errors");
    for (const auto& [name, account] : accounts->get_object()) {
      auto state =
          format_account_state(name, account, recent != nullptr ? *recent : kNoErrors, now_ms);
      if (const auto drain = int_member(account, "drain_estimate_s"); drain && *drain > 0) {
        state += fmt::format("; drain: about {} at the account's budget", format_seconds(*drain));
      }
      // Daemons sharing a PostgreSQL store: one of them sends for the account.
      if (const auto* sender = member(account, "sender"); sender != nullptr) {
        const auto node = string_member(*sender, "node");
        if (node.empty()) {
          state += "; no daemon sends for it right now (a new sender takes over within seconds)";
        } else if (bool_member(*sender, "this_host")) {
          state += "; sent by this daemon";
        } else {
          state += fmt::format("; sent by {} (host id {})", node,
                               int_member(*sender, "host_id").value_or(0));
        }
      }
      out += fmt::format("account {}: {}\n", std::string_view(name), state);
    }
  }

  out += format_zones_table(status, now_ms);

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
    if (const auto age = int_member(latest, "age_s")) {
      detail += fmt::format("{}{} ago", detail.empty() ? "" : ", ", format_seconds(*age));
    }
    out += fmt::format("recent upstream errors: {}{}\n", errors->get_array().size(),
                       detail.empty() ? "" : fmt::format(" (latest: {})", detail));
  }
  return out;
}

std::string format_status(const json::value& status) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return format_status(status, now);
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

std::string format_variants(const json::value& answer) {
  const auto* items = member(answer, "items");
  if (items == nullptr || !items->is_array()) return {};
  const auto& list = items->get_array();
  std::string out;
  // The daemon keeps a URL's variants together, in the zone's order: one block per URL.
  for (std::size_t start = 0; start < list.size();) {
    const auto value = string_member(list[start], "value");
    const auto zone = string_member(list[start], "zone");
    std::size_t end = start + 1;
    while (end < list.size() && string_member(list[end], "value") == value &&
           string_member(list[end], "zone") == zone) {
      ++end;
    }
    const auto* first_headers = member(list[start], "headers");
    if (end - start == 1 && first_headers == nullptr) {
      out += fmt::format("{} (zone {}): no cache-key variants\n", value, zone);
      start = end;
      continue;
    }
    out += fmt::format("{} (zone {}): {}\n", value, zone,
                       plural(static_cast<std::int64_t>(end - start), "variant", "variants"));
    for (; start < end; ++start) {
      std::string line;
      if (const auto* headers = member(list[start], "headers");
          headers != nullptr && headers->is_object()) {
        for (const auto& header : headers->get_object()) {
          if (!line.empty()) line += ", ";
          line +=
              fmt::format("{}: {}", std::string_view(header.key()),
                          header.value().is_string() ? std::string_view(header.value().get_string())
                                                     : std::string_view("?"));
        }
      }
      out += fmt::format("  {}\n", line.empty() ? "(no headers)" : line);
    }
  }
  out += fmt::format("{} to purge; nothing was queued\n",
                     plural(count_of(answer, "count"), "item", "items"));
  return out;
}

}  // namespace purgeq::cli
