// The table of error codes.
#include "http/error_code.h"

#include <array>
#include <ostream>

namespace purgeq {
namespace {

using enum ErrorCode;

// Cloudflare's "request failed" code, for refusals it has no code of its own for.
constexpr int kCfFailed = 1012;

constexpr std::array kTable{
    ErrorInfo{invalid_json, "invalid_json", 400, kCfFailed, 0},
    ErrorInfo{duplicate_key, "duplicate_key", 400, kCfFailed, 0},
    ErrorInfo{invalid_body, "invalid_body", 400, kCfFailed, 0},
    ErrorInfo{too_many_items, "too_many_items", 413, kCfFailed, 0},
    ErrorInfo{unknown_field, "unknown_field", 400, kCfFailed, 0},
    ErrorInfo{not_an_array, "not_an_array", 400, 1014, 0},
    ErrorInfo{invalid_purge_everything, "invalid_purge_everything", 400, 1013, 0},
    ErrorInfo{invalid_zone, "invalid_zone", 400, kCfFailed, 0},
    ErrorInfo{invalid_priority, "invalid_priority", 400, kCfFailed, 0},
    ErrorInfo{no_kind, "no_kind", 400, kCfFailed, 0},
    ErrorInfo{mixed_kinds, "mixed_kinds", 400, kCfFailed, 0},
    ErrorInfo{purge_everything_not_alone, "purge_everything_not_alone", 400, 1092, 0},
    ErrorInfo{empty_intent, "empty_intent", 400, kCfFailed, 0},
    ErrorInfo{unknown_zone, "unknown_zone", 400, kCfFailed, 0},
    ErrorInfo{unknown_path_zone, "unknown_zone", 404, 7003, 0},
    ErrorInfo{zone_required, "zone_required", 400, kCfFailed, 0},
    ErrorInfo{no_zone_for_host, "no_zone_for_host", 400, kCfFailed, 0},
    ErrorInfo{host_not_in_zone, "host_not_in_zone", 400, 1082, 0},
    ErrorInfo{not_a_string, "not_a_string", 400, kCfFailed, 0},
    ErrorInfo{invalid_file_entry, "invalid_file_entry", 400, kCfFailed, 0},
    ErrorInfo{invalid_url, "invalid_url", 400, 1015, 0},
    ErrorInfo{url_too_long, "url_too_long", 400, 1015, 0},
    ErrorInfo{url_has_fragment, "url_has_fragment", 400, 1015, 0},
    ErrorInfo{invalid_host, "invalid_host", 400, 1115, 0},
    ErrorInfo{host_too_long, "host_too_long", 400, 1114, 0},
    ErrorInfo{invalid_header, "invalid_header", 400, kCfFailed, 0},
    ErrorInfo{duplicate_header, "duplicate_header", 400, kCfFailed, 0},
    ErrorInfo{too_many_headers, "too_many_headers", 400, kCfFailed, 0},
    ErrorInfo{invalid_origin_header, "invalid_origin_header", 400, kCfFailed, 0},
    ErrorInfo{invalid_tag, "invalid_tag", 400, kCfFailed, 0},
    ErrorInfo{tag_too_long, "tag_too_long", 400, 1100, 0},
    ErrorInfo{invalid_prefix, "invalid_prefix", 400, kCfFailed, 0},
    ErrorInfo{prefix_too_long, "prefix_too_long", 400, kCfFailed, 0},
    ErrorInfo{prefix_too_many_slashes, "prefix_too_many_slashes", 400, kCfFailed, 0},
    ErrorInfo{access_denied, "access_denied", 403, 10000, 0},
    ErrorInfo{everything_too_soon, "everything_too_soon", 429, 10429, 0},
    ErrorInfo{queue_full, "queue_full", 503, 10503, 30},
    ErrorInfo{storage_full, "storage_full", 503, 10503, 60},
    ErrorInfo{disk_full, "disk_full", 503, 10503, 5},
    ErrorInfo{storage_unavailable, "storage_unavailable", 503, 10503, 5},
    ErrorInfo{shutting_down, "shutting_down", 503, 10503, 5},
    ErrorInfo{bad_request, "bad_request", 400, kCfFailed, 0},
    ErrorInfo{body_too_large, "body_too_large", 413, kCfFailed, 0},
    ErrorInfo{too_many_connections, "too_many_connections", 503, 10503, 5},
    ErrorInfo{not_found, "not_found", 404, 7000, 0},
    ErrorInfo{method_not_allowed, "method_not_allowed", 405, 10405, 0},
    ErrorInfo{missing_token, "missing_token", 400, 9106, 0},
    ErrorInfo{bad_token, "bad_token", 401, 10000, 0},
    ErrorInfo{token_required, "token_required", 401, 9106, 0},
    ErrorInfo{invalid_query, "invalid_query", 400, kCfFailed, 0},
    ErrorInfo{invalid_wait, "invalid_wait", 400, kCfFailed, 0},
    ErrorInfo{unknown_intent, "unknown_intent", 404, kCfFailed, 0},
};

// error_info() indexes the table by the enum's value: each row must sit at its code's place, and
// the last code must have the last row.
constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].code) != i) return false;
  }
  return true;
}
static_assert(in_enum_order(), "kTable's rows must follow ErrorCode's order");
static_assert(static_cast<std::size_t>(unknown_intent) + 1 == kTable.size(),
              "every ErrorCode needs a row in kTable");

}  // namespace

std::span<const ErrorInfo> error_table() {
  return kTable;
}

const ErrorInfo& error_info(ErrorCode code) {
  return kTable[static_cast<std::size_t>(code)];
}

std::optional<ErrorCode> error_code_named(std::string_view name) {
  for (const auto& info : kTable) {
    if (info.name == name) return info.code;
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, ErrorCode code) {
  return out << error_name(code);
}

}  // namespace purgeq
