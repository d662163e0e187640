// Durations read from YAML (config/duration_yaml.h).
#include "config/duration_yaml.h"

#include <fmt/format.h>

#include "model/text.h"

namespace purgeq {

using namespace strict_yaml;

std::optional<Duration> read_duration(Checker& checker, const Field& field) {
  if (!field.node.IsScalar()) {
    checker.add(field,
                fmt::format("expected a duration like \"30s\", got {}", describe(field.node)));
    return std::nullopt;
  }
  auto value = parse_duration(field.node.Scalar());
  if (!value) {
    checker.add(field, fmt::format("invalid duration {} (use a number and ms, s, m or h)",
                                   quote(field.node.Scalar())));
  }
  return value;
}

// A positive duration, or nullopt after reporting why not.
std::optional<Duration> read_positive_duration(Checker& checker, const Field& field) {
  auto value = read_duration(checker, field);
  if (value && value->count() == 0) {
    checker.add(field, "must be greater than 0");
    return std::nullopt;
  }
  return value;
}

}  // namespace purgeq
