// Tolerant JSON members.
#include "model/json_read.h"

#include <boost/json.hpp>
#include <cmath>

namespace purgeq::json_read {

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
  if (m->is_double()) {
    const auto d = m->get_double();
    // Out-of-range or NaN would be undefined behaviour in the conversion.
    if (!(std::fabs(d) < 9.2e18)) return std::nullopt;
    return std::llround(d);
  }
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

}  // namespace purgeq::json_read
