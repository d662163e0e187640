// `hooks:` in the config: defaults, the command/url choice, zones and the exact problems.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

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

std::vector<std::string> problems_of(const std::string& yaml) {
  try {
    (void)load_config_string(yaml);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "config loaded without problems:\n" << yaml;
  return {};
}

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

}  // namespace
}  // namespace purgeq
