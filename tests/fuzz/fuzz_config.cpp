// libFuzzer target: purgeq::load_config_string on the input as YAML. A rejected config
// (ConfigError) or a yaml-cpp exception is an answer, not a finding; crashes, sanitizer reports,
// leaks, other exceptions escaping (std::terminate) and timeouts are findings.
//
// It found that yaml-cpp 0.7's LoadAll loops forever on input such as ",a: 1" (README.md,
// "Findings"); load_config_string no longer calls LoadAll, so every input goes to it as it is.
//
// Token sources are resolved while loading (token_file reads a file, token_env an environment
// variable). scripts/fuzz.sh runs the target with stdin from /dev/null so a token_file of
// /dev/stdin cannot block it.
#include <yaml-cpp/exceptions.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const purgeq::Config config = purgeq::load_config_string(text, "fuzz");
    // A config that loads is resolved: every zone names an existing account. A zone given by
    // name alone has no id until it is looked up online (or, dry run, never), so only an id
    // that is there must find its zone.
    PURGEQ_FUZZ_CHECK(!config.zones.empty());
    for (const auto& zone : config.zones) {
      PURGEQ_FUZZ_CHECK(zone.account_index < config.accounts.size());
      PURGEQ_FUZZ_CHECK(config.accounts[zone.account_index].name == zone.account);
      PURGEQ_FUZZ_CHECK(config.find_zone(zone.name) != nullptr);
      PURGEQ_FUZZ_CHECK(zone.id.empty() || config.find_zone(zone.id) != nullptr);
    }
    (void)purgeq::format_duration(config.retry.give_up_after);
  } catch (const purgeq::ConfigError& e) {
    PURGEQ_FUZZ_CHECK(!e.problems().empty());
  } catch (const YAML::Exception&) {
    // Allowed by the brief; load_config_string itself promises only ConfigError.
  }
  return 0;
}
