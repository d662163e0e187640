// The problems a config produces, for tests of the config's error messages.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace purgeq::test {

// Every problem `yaml` is refused with; a config that loads is reported as a test failure.
inline std::vector<std::string> problems_of(const std::string& yaml) {
  try {
    (void)load_config_string(yaml);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "config loaded without problems:\n" << yaml;
  return {};
}

}  // namespace purgeq::test
