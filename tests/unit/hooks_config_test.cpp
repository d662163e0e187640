// `hooks:` in the config: defaults, the command/url choice, zones and the exact problems.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "support/config_problems.h"

namespace purgeq {
namespace {

std::string with_hooks(const std::string& hooks) {
  return std::string(R"(
dry_run: true
accounts:
  - name: main
    plan: enterprise
zones:
  - name: a.example
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
  - name: b.example
    id: 11111111111111111111111111111111
    account: main
hooks:
)") + hooks;
}

using test::problems_of;

TEST(HooksConfig, CommandAndUrlHooksWithDefaultsAndZones) {
  const auto config = load_config_string(with_hooks(R"(
  - name: warm
    command: ["/usr/local/bin/warm", "--fast"]
  - name: notify
    url: https://hooks.internal/purged
    zones: [b.example]
    timeout: 5s
    attempts: 3
    retry_initial: 1s
    retry_max: 10s
    max_concurrent: 4
)"));
  ASSERT_EQ(config.hooks.size(), 2U);
  const auto& warm = config.hooks[0];
  EXPECT_EQ(warm.name, "warm");
  EXPECT_EQ(warm.command, (std::vector<std::string>{"/usr/local/bin/warm", "--fast"}));
  EXPECT_TRUE(warm.url.empty());
  EXPECT_TRUE(warm.zones.empty());
  EXPECT_EQ(warm.timeout, std::chrono::seconds(30));
  EXPECT_EQ(warm.attempts, 5);
  EXPECT_EQ(warm.max_concurrent, 2);
  const auto& notify = config.hooks[1];
  EXPECT_EQ(notify.url, "https://hooks.internal/purged");
  EXPECT_EQ(notify.zones, std::vector<std::string>{"b.example"});
  EXPECT_EQ(notify.timeout, std::chrono::seconds(5));
  EXPECT_EQ(notify.attempts, 3);
  EXPECT_EQ(notify.retry_initial, std::chrono::seconds(1));
  EXPECT_EQ(notify.retry_max, std::chrono::seconds(10));
  EXPECT_EQ(notify.max_concurrent, 4);

  EXPECT_TRUE(warm.lanes.empty());

  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example"}, Lane::normal),
            std::vector<std::string>{"warm"});
  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example", "b.example"}, Lane::bulk),
            (std::vector<std::string>{"warm", "notify"}));
}

TEST(HooksConfig, LanesSelectIntentsByTheLaneTheyWereAcceptedIn) {
  const auto config = load_config_string(with_hooks(R"(
  - name: urgent
    command: [/bin/true]
    lanes: [high]
  - name: urgent-b
    command: [/bin/true]
    zones: [b.example]
    lanes: [bulk, high]
  - name: all
    command: [/bin/true]
)"));
  ASSERT_EQ(config.hooks.size(), 3U);
  EXPECT_EQ(config.hooks[0].lanes, std::vector<Lane>{Lane::high});
  EXPECT_EQ(config.hooks[1].lanes, (std::vector<Lane>{Lane::bulk, Lane::high}));
  EXPECT_TRUE(config.hooks[2].lanes.empty()) << "omitted: every lane";
  using Names = std::vector<std::string>;
  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example"}, Lane::high), (Names{"urgent", "all"}));
  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example"}, Lane::normal), Names{"all"});
  EXPECT_EQ(hooks_for_intent(config.hooks, {"b.example"}, Lane::bulk), (Names{"urgent-b", "all"}));
  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example", "b.example"}, Lane::high),
            (Names{"urgent", "urgent-b", "all"}));
  EXPECT_EQ(hooks_for_intent(config.hooks, {"a.example"}, Lane::bulk), Names{"all"})
      << "urgent-b's lane matches but not its zones";
}

TEST(HooksConfig, AZoneListedTwiceIsAProblem) {
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    zones: [a.example, b.example, 023e105f4ecef8ad9ca31a8372d0c353]
)")),
            (std::vector<std::string>{R"(hooks[0].zones[2]: zone "a.example" is listed twice)"}));
}

TEST(HooksConfig, LaneProblemsNameTheValueAndTheRule) {
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    lanes: [high, urgent, High, normal, high]
)")),
            (std::vector<std::string>{
                R"(hooks[0].lanes[1]: unknown lane "urgent" (use high, normal or bulk))",
                R"(hooks[0].lanes[2]: unknown lane "High" (use high, normal or bulk))",
                R"(hooks[0].lanes[4]: lane "high" is listed twice)"}));
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    lanes: []
)")),
            (std::vector<std::string>{"hooks[0].lanes: is empty; omit lanes to run the hook for "
                                      "every lane, or list some of high, normal or bulk"}));
  const auto not_a_list = problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    lanes: high
)"));
  ASSERT_EQ(not_a_list.size(), 1U);
  EXPECT_EQ(not_a_list[0].rfind("hooks[0].lanes: ", 0), 0U) << not_a_list[0];
  EXPECT_NE(not_a_list[0].find("list"), std::string::npos) << not_a_list[0];
  const auto lnaes = problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    lnaes: [high]
)"));
  EXPECT_EQ(lnaes,
            std::vector<std::string>{R"(hooks[0].lnaes: unknown key (did you mean "lanes"?))"});
}

TEST(HooksConfig, ZonesMayBeNamedByIdAndAreStoredByName) {
  const auto config = load_config_string(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    zones: ["11111111111111111111111111111111"]
)"));
  EXPECT_EQ(config.hooks.at(0).zones, std::vector<std::string>{"b.example"});
}

TEST(HooksConfig, ProblemsNameTheHookAndTheRule) {
  EXPECT_EQ(
      problems_of(with_hooks(R"(
  - name: warm
    command: warm --fast
)")),
      (std::vector<std::string>{
          R"(hooks[0].command: expected a list of arguments like ["/usr/local/bin/warm", "--fast"] (run without a shell), got "warm --fast")"}));
  EXPECT_EQ(
      problems_of(with_hooks(R"(
  - name: warm
    command: [warm]
)")),
      (std::vector<std::string>{
          R"(hooks[0].command[0]: "warm" is not an absolute path (hooks run without a shell or PATH lookup))"}));
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
    url: https://x.example/
)")),
            (std::vector<std::string>{
                "hooks[0].url: conflicts with command (a hook runs a command or posts to a URL)"}));
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: warm
)")),
            (std::vector<std::string>{"hooks[0]: needs a command (a list: program by absolute "
                                      "path, then arguments) or a url"}));
  EXPECT_EQ(problems_of(with_hooks(R"(
  - name: Warm Up
    url: ftp://x.example/
    zones: [c.example]
    timeout: 0s
    attempts: 0
    max_concurrent: 1000
)")),
            (std::vector<std::string>{
                R"(hooks[0].name: invalid name "Warm Up": use 1-64 of a-z, 0-9, _ and -)",
                R"(hooks[0].url: must be an http:// or https:// URL, got "ftp://x.example/")",
                R"(hooks[0].zones[0]: unknown zone "c.example")",
                "hooks[0].timeout: must be greater than 0",
                "hooks[0].attempts: must be between 1 and 100, got 0",
                "hooks[0].max_concurrent: must be between 1 and 64, got 1000"}));
  EXPECT_EQ(
      problems_of(with_hooks(R"(
  - name: warm
    command: [/bin/true]
  - name: warm
    command: [/bin/true]
    retry_initial: 1m
    retry_max: 1s
    commnd: x
)")),
      (std::vector<std::string>{R"(hooks[1].name: a second hook named "warm")",
                                R"(hooks[1]: retry_max (1s) is less than retry_initial (1m))",
                                R"(hooks[1].commnd: unknown key (did you mean "command"?))"}));
}

}  // namespace
}  // namespace purgeq
