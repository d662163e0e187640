// The API's error codes: one enum and one table giving each its stable name (what clients see in
// `{"error": {"code": ...}}`, in logs and in purgeq_intents_rejected_total), its HTTP status, its
// code in Cloudflare's envelope and its Retry-After. What each means is in docs/api.md, "Error
// codes"; a unit test (ErrorCodeTable) holds that list to this table.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string_view>

namespace purgeq {

enum class ErrorCode : std::uint8_t {
  // The body's shape (intake/json_body.h, intake/body_shape.h, intake/intent_parser.h)
  invalid_json,
  duplicate_key,
  invalid_body,
  too_many_items,
  unknown_field,
  not_an_array,
  invalid_purge_everything,
  invalid_zone,
  invalid_priority,
  no_kind,
  mixed_kinds,
  purge_everything_not_alone,
  empty_intent,
  // Routing (intake/routing.h)
  unknown_zone,       // the body's "zone" names no configured zone
  unknown_path_zone,  // the Cloudflare endpoint's path names no configured zone id
  zone_required,
  no_zone_for_host,
  host_not_in_zone,
  // Items (intake/item_rules.h)
  not_a_string,
  invalid_file_entry,
  invalid_url,
  url_too_long,
  url_has_fragment,
  invalid_host,
  host_too_long,
  invalid_header,
  duplicate_header,
  too_many_headers,
  invalid_origin_header,
  invalid_tag,
  tag_too_long,
  invalid_prefix,
  prefix_too_long,
  prefix_too_many_slashes,
  // Rules (intake/access.h, intake/api_clients.h, intake/everything_guard.h)
  access_denied,
  everything_too_soon,
  // Admission (intake/admission.h)
  queue_full,
  storage_full,
  disk_full,
  storage_unavailable,
  shutting_down,
  // The HTTP layer and the router (http/, api/)
  bad_request,
  body_too_large,
  too_many_connections,
  not_found,
  method_not_allowed,
  missing_token,
  bad_token,
  token_required,
  // Queries (control/)
  invalid_query,
  invalid_wait,
  unknown_intent,
};

struct ErrorInfo {
  ErrorCode code;
  // Stable: clients and dashboards match on it. Two codes may share a name when only the
  // answer differs (unknown_zone and unknown_path_zone are both "unknown_zone").
  std::string_view name;
  int http_status;
  // In Cloudflare's envelope (the compatible endpoint and the TCP listener): Cloudflare's own
  // code for the same refusal where it has one, else 1012 (its "request failed" code).
  int cloudflare_code;
  // Seconds in the Retry-After header; 0: none. everything_too_soon computes its own.
  int retry_after_s;
};

// Every code, in the enum's order.
std::span<const ErrorInfo> error_table();
const ErrorInfo& error_info(ErrorCode code);
inline std::string_view error_name(ErrorCode code) {
  return error_info(code).name;
}
// The first code with this name (tests and tools read names back).
std::optional<ErrorCode> error_code_named(std::string_view name);

// Prints the name (gtest's failure messages, logs of tools).
std::ostream& operator<<(std::ostream& out, ErrorCode code);

}  // namespace purgeq
