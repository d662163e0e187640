// Tolerant reading of JSON answers: a member that is missing or of another type reads as absent,
// never as an error. For readers of purgeqd's answers (purgeq, and the sentences both share), which
// must keep working when the daemon adds or drops members between versions.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace purgeq::json_read {

// value[key] when value is an object holding it; nullptr otherwise.
[[nodiscard]] const boost::json::value* member(const boost::json::value& value,
                                               std::string_view key);
// An integer, or a double rounded to the nearest integer; nullopt for anything else (and for a
// double too large for int64).
[[nodiscard]] std::optional<std::int64_t> int_member(const boost::json::value& value,
                                                     std::string_view key);
[[nodiscard]] std::optional<double> number_member(const boost::json::value& value,
                                                  std::string_view key);
// The string, or "" when it is missing or not a string.
[[nodiscard]] std::string string_member(const boost::json::value& value, std::string_view key);
// True only for a boolean true.
[[nodiscard]] bool bool_member(const boost::json::value& value, std::string_view key);

}  // namespace purgeq::json_read
