// libFuzzer target: purgeq::load_config_string on the input as YAML. A rejected config
// (ConfigError) or a yaml-cpp exception is an answer, not a finding; crashes, sanitizer reports,
// leaks, other exceptions escaping (std::terminate) and timeouts are findings.
//
// Known and skipped: yaml-cpp 0.7 (Debian 12) loops forever in YAML::LoadAll, allocating a null
// document per turn, on input such as ",a: 1" (a ',' where a block node should start; upstream
// jbeder/yaml-cpp issue 1040, fixed by pull request 1319 after 0.8.0). load_config_string calls
// LoadAll, so purgeqd hangs on such a config (tests/fuzz/README.md, "Findings"). So that the fuzzer
// can look past it, inputs on which LoadAll would loop are detected with a bounded run of the same
// parser and skipped. Set PURGEQ_FUZZ_NO_SKIP=1 to feed them to load_config_string anyway (to
// reproduce the hang, or to check that a fix in purgeq works around it).
//
// Token sources are resolved while loading (token_file reads a file, token_env an environment
// variable). scripts/fuzz.sh runs the target with stdin from /dev/null so a token_file of
// /dev/stdin cannot block it.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "config/config.h"
#include "fixture.h"

namespace {

class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// True when YAML::LoadAll would never return on `text`: its loop (HandleNextDocument until it
// returns false) goes on past any number of documents the text could hold. Every real document
// consumes at least one character, so more documents than characters means the loop is stuck.
bool load_all_would_loop(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  IgnoreEvents events;
  try {
    for (std::size_t documents = 0; parser.HandleNextDocument(events);) {
      if (++documents > text.size() + 2) return true;
    }
  } catch (const YAML::Exception&) {
  }
  return false;
}

const bool kSkipKnown = std::getenv("PURGEQ_FUZZ_NO_SKIP") == nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (kSkipKnown && load_all_would_loop(text)) return -1;  // -1: not added to the corpus
  try {
    const purgeq::Config config = purgeq::load_config_string(text, "fuzz");
    // A config that loads is resolved: every zone names an existing account.
    PURGEQ_FUZZ_CHECK(!config.zones.empty());
    for (const auto& zone : config.zones) {
      PURGEQ_FUZZ_CHECK(zone.account_index < config.accounts.size());
      PURGEQ_FUZZ_CHECK(config.accounts[zone.account_index].name == zone.account);
      PURGEQ_FUZZ_CHECK(config.find_zone(zone.name) != nullptr);
      PURGEQ_FUZZ_CHECK(config.find_zone(zone.id) != nullptr);
    }
    (void)purgeq::format_duration(config.retry.give_up_after);
  } catch (const purgeq::ConfigError& e) {
    PURGEQ_FUZZ_CHECK(!e.problems().empty());
  } catch (const YAML::Exception&) {
    // Allowed by the brief; load_config_string itself promises only ConfigError.
  }
  return 0;
}
