// Sentences and numbers for people. Tolerant readers: a member that is missing or mistyped is
// skipped, never fatal.
#include "model/people_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <optional>
#include <string_view>

#include "model/json_read.h"

namespace purgeq {
namespace {

namespace json = boost::json;
using json_read::int_member;
using json_read::member;
using json_read::string_member;

// A double that holds an integer (800.0) as that integer; nullopt otherwise.
std::optional<std::int64_t> integral(double d) {
  constexpr double kExact = 9007199254740992.0;  // 2^53: beyond it, doubles skip integers
  if (!(std::fabs(d) <= kExact) || d != std::trunc(d)) return std::nullopt;
  return static_cast<std::int64_t>(d);
}

// Any JSON value as short text: strings unquoted, integral numbers without exponent.
std::string value_text(const json::value& value) {
  if (value.is_string()) return std::string(value.get_string());
  if (value.is_int64()) return std::to_string(value.get_int64());
  if (value.is_uint64()) return std::to_string(value.get_uint64());
  if (value.is_double()) return number_for_people(value.get_double());
  return json_for_people(value);
}

void append_json_for_people(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_:
      out += number_for_people(value.get_double());
      return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json_for_people(out, element);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& member : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(member.key());
        out += ':';
        append_json_for_people(out, member.value());
      }
      out += '}';
      return;
    }
    default:
      out += json::serialize(value);
      return;
  }
}

// "2026-11-27T10:02:11Z" → "10:02:11Z" when it is recent (under a day), else
// "2026-11-25 10:02:11Z"; fractional seconds dropped. Anything unexpected is shown as given.
std::string format_since(std::string_view since, std::optional<std::int64_t> seconds_ago) {
  const auto t = since.find('T');
  if (t == std::string_view::npos || t + 9 > since.size()) return std::string(since);
  const auto date = since.substr(0, t);
  const auto clock = since.substr(t + 1, 8);
  auto zone = since.substr(t + 9);
  if (!zone.empty() && zone.front() == '.') {
    zone.remove_prefix(1);
    while (!zone.empty() && zone.front() >= '0' && zone.front() <= '9') zone.remove_prefix(1);
  }
  if (seconds_ago && *seconds_ago < 86400) return fmt::format("{}{}", clock, zone);
  return fmt::format("{} {}{}", date, clock, zone);
}

std::string items_pending(const json::value& entry, std::string_view zone) {
  const auto pending = int_member(entry, "pending");
  if (!pending) return {};
  return fmt::format("{} {} pending{}{}", grouped(*pending), *pending == 1 ? "item" : "items",
                     zone.empty() ? "" : " in ", zone);
}

std::string about_drain(const json::value& entry) {
  const auto drain = int_member(entry, "drain_estimate_s");
  if (!drain) return {};
  return fmt::format("about {} to drain at the account's budget", format_seconds(*drain));
}

// "rate-limited: 147,000 items pending in example.com, about 5 h to drain at the account's
// budget; next request in 8 s" and the like for the states about a moving (or paced) queue.
std::string format_backlog(std::string_view head, const json::value& entry, std::string_view zone) {
  std::string out(head);
  auto detail = items_pending(entry, zone);
  if (detail.empty() && !zone.empty()) out += fmt::format(" in {}", zone);
  if (const auto drain = about_drain(entry); !drain.empty()) {
    detail += (detail.empty() ? "" : ", ") + drain;
  }
  if (!detail.empty()) out += ": " + detail;
  if (const auto retry = int_member(entry, "retry_in_s")) {
    out += fmt::format("; next request in {}", format_seconds(*retry));
  }
  if (const auto ahead = int_member(entry, "ahead_in_higher_lanes"); ahead && *ahead > 0) {
    out += fmt::format("; {} {} of higher priority go first", grouped(*ahead),
                       *ahead == 1 ? "item" : "items");
  }
  return out;
}

std::string format_paused(const json::value& entry, std::string_view zone,
                          std::string_view account) {
  std::string out = !account.empty() ? fmt::format("account {} is paused", account)
                    : !zone.empty()  ? fmt::format("the account of {} is paused", zone)
                                     : std::string("the account is paused");
  const auto since = string_member(entry, "since");
  const auto since_s = int_member(entry, "since_s");
  if (!since.empty()) out += " since " + format_since(since, since_s);
  if (since_s) {
    const auto ago = format_seconds(*since_s);
    out += since.empty() ? fmt::format(" for {}", ago) : fmt::format(" ({})", ago);
  }
  if (const auto reason = string_member(entry, "reason"); !reason.empty()) out += ": " + reason;
  if (const auto resume = string_member(entry, "resume"); !resume.empty()) {
    out += "; to resume: " + resume;
  }
  if (const auto probe = int_member(entry, "next_probe_in_s")) {
    out += fmt::format("; next check in {}", format_seconds(*probe));
  }
  return out;
}

std::string format_failing(const json::value& entry) {
  std::string out = "Cloudflare is failing";
  std::string last = string_member(entry, "last_error");
  if (const auto age = int_member(entry, "last_error_age_s")) {
    last += fmt::format("{}{} ago", last.empty() ? "last error " : ", ", format_seconds(*age));
  }
  if (const auto failures = int_member(entry, "consecutive_failures")) {
    last += fmt::format("{}attempt {}", last.empty() ? "" : "; ", *failures);
  }
  if (!last.empty()) out += " (" + last + ")";
  if (const auto next = int_member(entry, "next_attempt_in_s")) {
    out += fmt::format("; next attempt in {}", format_seconds(*next));
  }
  return out;
}

// A state this reader doesn't know yet: its name and every member, so nothing is hidden.
std::string format_generic(const json::object& entry) {
  const auto* state = entry.if_contains("state");
  std::string out = state != nullptr ? value_text(*state) : "unknown";
  std::string members;
  const auto add = [&](std::string_view key, const json::value& value) {
    members += fmt::format("{}{}={}", members.empty() ? "" : ", ", key, value_text(value));
  };
  for (const auto key : {"zone", "account"}) {
    if (const auto* value = entry.if_contains(key)) add(key, *value);
  }
  for (const auto& [key, value] : entry) {
    if (key != "state" && key != "zone" && key != "account" && key != "sentence") add(key, value);
  }
  if (!members.empty()) out += " (" + members + ")";
  return out;
}

}  // namespace

std::string format_seconds(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  const auto two_units = [](std::int64_t big, std::string_view big_unit, std::int64_t small,
                            std::string_view small_unit) {
    return small == 0 ? fmt::format("{} {}", big, big_unit)
                      : fmt::format("{} {} {} {}", big, big_unit, small, small_unit);
  };
  if (seconds < 60) return fmt::format("{} s", seconds);
  if (seconds < 3600) return two_units(seconds / 60, "min", seconds % 60, "s");
  if (seconds < 86400) return two_units(seconds / 3600, "h", seconds % 3600 / 60, "min");
  return two_units(seconds / 86400, "d", seconds % 86400 / 3600, "h");
}

std::string grouped(std::int64_t n) {
  auto digits =
      std::to_string(n < 0 ? -static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n));
  for (auto at = digits.size(); at > 3; at -= 3) digits.insert(at - 3, 1, ',');
  return n < 0 ? "-" + digits : digits;
}

std::string number_for_people(double number) {
  if (const auto n = integral(number)) return std::to_string(*n);
  if (!std::isfinite(number)) return "null";  // JSON has no NaN or infinity
  // Three decimals are more than any rate or token count needs; fmt's shortest form of the
  // rounded value never uses an exponent in this range.
  // Beyond 2^53 doubles hold no fractions, and their digits mean nothing: the shortest form.
  if (std::fabs(number) >= 9007199254740992.0) return fmt::format("{}", number);
  const double rounded = std::round(number * 1000.0) / 1000.0;
  if (const auto n = integral(rounded)) return std::to_string(*n);
  auto text = fmt::format("{:.3f}", rounded);  // fixed notation: "19.941", "0.500"
  text.erase(text.find_last_not_of('0') + 1);  // "0.5"
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string json_for_people(const json::value& value) {
  std::string out;
  append_json_for_people(out, value);
  return out;
}

std::string format_waiting(const json::value& entry) {
  const auto* object = entry.if_object();
  if (object == nullptr) return fmt::format("unknown ({})", value_text(entry));
  const auto state = string_member(entry, "state");
  const auto zone = string_member(entry, "zone");
  const auto account = string_member(entry, "account");
  if (state == "paused") return format_paused(entry, zone, account);
  if (state == "upstream_failing") return format_failing(entry);
  if (state == "rate_limited") return format_backlog("rate-limited", entry, zone);
  if (state == "sending") return format_backlog("sending", entry, zone);
  if (state == "sent_elsewhere") {
    // A shared PostgreSQL queue: another purgeqd sends for the account.
    const auto* sender = member(entry, "sender");
    const auto node = sender != nullptr ? string_member(*sender, "node") : std::string();
    return format_backlog(
        node.empty() ? fmt::format("waiting for a purgeqd to take over account {}", account)
                     : fmt::format("sent by purgeqd on {} (ask it: purgeq status there)", node),
        entry, zone);
  }
  return format_generic(*object);
}

}  // namespace purgeq
