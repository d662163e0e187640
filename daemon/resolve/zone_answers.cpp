// Reading Cloudflare's answers to zone lookups and token checks (see the header).
#include "resolve/zone_answers.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "dispatch/verdict.h"
#include "model/ascii.h"

namespace purgeq {
namespace {

namespace json = boost::json;

std::string describe(const Classified& c) {
  if (c.code != 0) return fmt::format("HTTP {} code {}: {}", c.status, c.code, c.message);
  return c.status != 0 ? fmt::format("HTTP {}: {}", c.status, c.message) : c.message;
}

// The envelope's `result` when Cloudflare said success; else what the failure means.
struct Envelope {
  const json::value* result = nullptr;
  const json::object* root = nullptr;
  LookupVerdict failure = LookupVerdict::outage;
  std::string error;
};

Envelope open_envelope(const HttpResponse& response, const json::value& parsed, bool parsed_ok) {
  Envelope out;
  const Classified c = classify(response);
  out.error = describe(c);
  if (!response.transport_error.empty()) return out;
  // 401 (1000, invalid token) and 403 (9109 not allowed, 10000 authentication error): the token
  // does not open this; trying again helps only once the token or the config changes.
  if (response.status == 401 || (response.status == 403 && c.code != 0)) {
    out.failure = LookupVerdict::refused;
    return out;
  }
  if (response.status == 404 && c.code != 0) {
    out.failure = LookupVerdict::not_found;
    return out;
  }
  if (response.status != 200 || !parsed_ok) return out;  // 5xx, 429, an HTML page: an outage
  const auto* root = parsed.if_object();
  const auto* success = root != nullptr ? root->if_contains("success") : nullptr;
  if (success == nullptr || !success->is_bool() || !success->as_bool()) {
    out.error = fmt::format("HTTP 200 without success: {}", c.message);
    return out;
  }
  out.root = root;
  out.result = root->if_contains("result");
  return out;
}

std::string string_at(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

// A zone object of Cloudflare's answer as a record; nullopt when it lacks what purgeqd needs.
std::optional<ZoneRecord> record_of(const json::value& zone, std::int64_t now_ms) {
  const auto* object = zone.if_object();
  if (object == nullptr) return std::nullopt;
  ZoneRecord record;
  record.name = ascii_lower(string_at(*object, "name"));
  record.id = string_at(*object, "id");
  if (const auto* account = object->if_contains("account"); account && account->is_object()) {
    record.account_id = string_at(account->as_object(), "id");
  }
  if (const auto* plan = object->if_contains("plan"); plan && plan->is_object()) {
    record.plan = string_at(plan->as_object(), "legacy_id");
  }
  record.resolved_at_ms = now_ms;
  if (record.name.empty() || record.id.empty() || record.plan.empty()) return std::nullopt;
  return record;
}

LookupAnswer malformed(std::string what) {
  LookupAnswer out;
  out.verdict = LookupVerdict::outage;
  out.error = std::move(what);
  return out;
}

}  // namespace

std::string zones_by_name_url(std::string_view api_base, std::string_view name, int page) {
  // A zone's name is a validated hostname (letters, digits, '-', '.'): nothing to escape.
  return fmt::format("{}/zones?name={}&page={}&per_page={}", api_base, name, page, kZonesPerPage);
}

std::string zone_url(std::string_view api_base, std::string_view zone_id) {
  return fmt::format("{}/zones/{}", api_base, zone_id);
}

std::string user_token_verify_url(std::string_view api_base) {
  return fmt::format("{}/user/tokens/verify", api_base);
}

std::string account_token_verify_url(std::string_view api_base, std::string_view account_id) {
  return fmt::format("{}/accounts/{}/tokens/verify", api_base, account_id);
}

LookupAnswer read_zones_page(const HttpResponse& response, std::string_view name, int page,
                             std::int64_t now_ms) {
  boost::system::error_code ec;
  const auto parsed = json::parse(response.body, ec);
  const Envelope envelope = open_envelope(response, parsed, !ec);
  LookupAnswer out;
  out.error = envelope.error;
  if (envelope.root == nullptr) {
    out.verdict = envelope.failure;
    return out;
  }
  if (envelope.result == nullptr || !envelope.result->is_array()) {
    return malformed("GET /zones answered without a `result` array");
  }
  std::optional<ZoneRecord> chosen;
  bool chosen_active = false;
  for (const auto& zone : envelope.result->as_array()) {
    auto record = record_of(zone, now_ms);
    if (!record || record->name != name) continue;
    const bool active = zone.is_object() && string_at(zone.as_object(), "status") == "active";
    // Several accounts may hold a zone of one name; only one of them is active.
    if (!chosen || (active && !chosen_active)) {
      chosen = std::move(record);
      chosen_active = active;
    }
  }
  int total_pages = page;
  if (const auto* info = envelope.root->if_contains("result_info"); info && info->is_object()) {
    if (const auto* total = info->as_object().if_contains("total_pages");
        total != nullptr && total->is_int64()) {
      total_pages = static_cast<int>(std::clamp<std::int64_t>(total->as_int64(), 0, 1000000));
    }
  }
  if (chosen && chosen_active) {
    out.verdict = LookupVerdict::found;
    out.record = std::move(*chosen);
  } else if (page < total_pages) {
    // An active zone of that name may be on a later page; an inactive one found here is kept
    // only if none is.
    out.verdict = LookupVerdict::next_page;
    out.next_page = page + 1;
    if (chosen) out.record = std::move(*chosen);
  } else if (chosen) {
    out.verdict = LookupVerdict::found;
    out.record = std::move(*chosen);
  } else {
    out.verdict = LookupVerdict::not_found;
    out.error = fmt::format("no zone named {} is visible to the account's token", name);
  }
  return out;
}

LookupAnswer read_zone(const HttpResponse& response, std::string_view name, std::int64_t now_ms) {
  boost::system::error_code ec;
  const auto parsed = json::parse(response.body, ec);
  const Envelope envelope = open_envelope(response, parsed, !ec);
  LookupAnswer out;
  out.error = envelope.error;
  if (envelope.root == nullptr) {
    out.verdict = envelope.failure;
    return out;
  }
  auto record = envelope.result != nullptr ? record_of(*envelope.result, now_ms) : std::nullopt;
  if (!record) return malformed("GET /zones/{id} answered without a zone's id, name and plan");
  if (record->name != name) {
    // The id now names another zone: what the config calls `name` must be looked up again.
    out.verdict = LookupVerdict::not_found;
    out.error = fmt::format("zone id {} is now the zone {}", record->id, record->name);
    return out;
  }
  out.verdict = LookupVerdict::found;
  out.record = std::move(*record);
  return out;
}

TokenAnswer read_token_verify(const HttpResponse& response) {
  boost::system::error_code ec;
  const auto parsed = json::parse(response.body, ec);
  const Envelope envelope = open_envelope(response, parsed, !ec);
  TokenAnswer out;
  out.error = envelope.error;
  if (envelope.root == nullptr) {
    out.verdict =
        envelope.failure == LookupVerdict::outage ? TokenVerdict::outage : TokenVerdict::refused;
    return out;
  }
  const auto* result = envelope.result != nullptr ? envelope.result->if_object() : nullptr;
  const std::string status = result != nullptr ? string_at(*result, "status") : std::string();
  if (status == "active") {
    out.verdict = TokenVerdict::active;
    out.error.clear();
  } else {
    out.verdict = TokenVerdict::refused;
    out.error = status.empty() ? "the token check answered without a status"
                               : fmt::format("the token is {}", status);
  }
  return out;
}

}  // namespace purgeq
