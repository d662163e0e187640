// Reading durations from YAML, for the config's loaders. Only config/ includes this (it carries
// yaml-cpp through strict_yaml.h).
#pragma once

#include <optional>

#include "config/duration.h"
#include "config/strict_yaml.h"

namespace purgeq {

// A duration ("250ms", "30s", "5m", "72h"), or nullopt after reporting why not.
std::optional<Duration> read_duration(strict_yaml::Checker& checker,
                                      const strict_yaml::Field& field);
// The same, and greater than zero.
std::optional<Duration> read_positive_duration(strict_yaml::Checker& checker,
                                               const strict_yaml::Field& field);

}  // namespace purgeq
