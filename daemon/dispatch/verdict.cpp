// Classification of Cloudflare answers (reference/cloudflare-purge-api.md §5).
#include "dispatch/verdict.h"

#include <fmt/format.h>

#include <array>
#include <boost/json.hpp>

namespace purgeq {
namespace {

constexpr std::array kAuthCodes{10000, 9109, 9106, 6003, 6111, 1000};
constexpr std::array kZoneCodes{7000, 7003};
constexpr int kRateLimitCode = 1134;

template <std::size_t N>
bool contains(const std::array<int, N>& codes, int code) {
  for (const int c : codes) {
    if (c == code) return true;
  }
  return false;
}

}  // namespace

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::success:
      return "success";
    case Verdict::rate_limited:
      return "rate_limited";
    case Verdict::auth_error:
      return "auth_error";
    case Verdict::zone_error:
      return "zone_error";
    case Verdict::rejected:
      return "rejected";
    case Verdict::transient:
      return "transient";
  }
  return "transient";
}

Classified classify(const HttpResponse& response) {
  Classified out;
  out.retry_after = response.retry_after;
  out.status = response.status;
  if (!response.transport_error.empty()) {
    out.message = response.transport_error;
    return out;
  }
  boost::system::error_code ec;
  const auto json = boost::json::parse(response.body, ec);
  const auto* envelope = ec ? nullptr : json.if_object();
  bool success = false;
  if (envelope != nullptr) {
    if (const auto* flag = envelope->if_contains("success"); flag != nullptr && flag->is_bool()) {
      success = flag->as_bool();
    }
    if (const auto* errors = envelope->if_contains("errors");
        errors != nullptr && errors->is_array() && !errors->as_array().empty()) {
      if (const auto* first = errors->as_array().front().if_object()) {
        if (const auto* code = first->if_contains("code"); code != nullptr && code->is_number()) {
          // Cloudflare's codes are small integers; anything else (1e300, -5, 3.5) is not one of
          // them, and casting it to int would be undefined.
          const double value = code->to_number<double>();
          if (value >= 0 && value <= 1e9 && value == static_cast<double>(static_cast<int>(value))) {
            out.code = static_cast<int>(value);
          }
        }
        if (const auto* message = first->if_contains("message");
            message != nullptr && message->is_string()) {
          out.message = std::string(message->as_string());
        }
      }
    }
  }
  if (out.message.empty()) out.message = fmt::format("HTTP {}", response.status);

  if (response.status == 429 || out.code == kRateLimitCode) {
    out.verdict = Verdict::rate_limited;
  } else if (response.status >= 500 || envelope == nullptr) {
    // A proxy's HTML page or a truncated body says nothing about our items.
    out.verdict = Verdict::transient;
  } else if (response.status == 200 && success) {
    out.verdict = Verdict::success;
  } else if (response.status == 401 || response.status == 403 || contains(kAuthCodes, out.code)) {
    out.verdict = Verdict::auth_error;
  } else if (response.status == 404 || contains(kZoneCodes, out.code)) {
    out.verdict = Verdict::zone_error;
  } else if (response.status == 408) {
    out.verdict = Verdict::transient;
  } else {
    out.verdict = Verdict::rejected;
  }
  return out;
}

}  // namespace purgeq
