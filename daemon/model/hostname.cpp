// The shared hostname rule.
#include "model/hostname.h"

#include <algorithm>

namespace purgeq {
namespace {

constexpr std::size_t kMaxHostnameLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

}  // namespace

bool has_numeric_last_label(std::string_view host) {
  const auto dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  return !last.empty() && std::all_of(last.begin(), last.end(), is_digit);
}

bool is_valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostnameLength || has_numeric_last_label(host)) {
    return false;
  }
  std::size_t label_start = 0;
  while (true) {
    const auto dot = host.find('.', label_start);
    const auto label = host.substr(
        label_start, dot == std::string_view::npos ? std::string_view::npos : dot - label_start);
    if (label.empty() || label.size() > kMaxLabelLength) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), is_label_char)) return false;
    if (dot == std::string_view::npos) return true;
    label_start = dot + 1;
  }
}

}  // namespace purgeq
