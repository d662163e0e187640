// Which completion hooks an intent records: by its zones (each once, in the order its items name
// them) and its lane.
#include "intake/hook_choice.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace purgeq {
namespace {

using Names = std::vector<std::string>;

constexpr const char* kZones = R"(
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
  - name: c.example
    id: 22222222222222222222222222222222
    account: main
)";

const Config& with_hooks() {
  static const Config loaded = load_config_string(std::string(kZones) + R"(
hooks:
  - name: warm-a
    command: ["/bin/true"]
    zones: [a.example]
  - name: notify-urgent
    url: https://hooks.internal/purged
    lanes: [high]
  - name: everywhere
    command: ["/bin/true"]
)",
                                                  "hooks.yaml");
  return loaded;
}

std::vector<RoutedItem> items_in(std::initializer_list<std::size_t> zones) {
  std::vector<RoutedItem> items;
  for (const auto zone : zones) {
    items.push_back(RoutedItem{zone, Item{Kind::tag, "t" + std::to_string(items.size()), {}}});
  }
  return items;
}

TEST(HookChoice, EachZoneOnceInTheOrderItsItemsCome) {
  const auto choice = choose_hooks(with_hooks(), items_in({1, 0, 1, 0}), Lane::normal);
  EXPECT_EQ(choice.zone_ids,
            (Names{"b.example", "a.example"}));  // by name, the queue's key for a zone
  EXPECT_EQ(choice.names, (Names{"warm-a", "everywhere"}));
}

TEST(HookChoice, HooksFollowTheIntentsZonesAndLane) {
  EXPECT_EQ(choose_hooks(with_hooks(), items_in({2}), Lane::normal).names, Names{"everywhere"});
  EXPECT_EQ(choose_hooks(with_hooks(), items_in({2}), Lane::high).names,
            (Names{"notify-urgent", "everywhere"}));
  EXPECT_EQ(choose_hooks(with_hooks(), items_in({0}), Lane::high).names,
            (Names{"warm-a", "notify-urgent", "everywhere"}));
}

TEST(HookChoice, NothingIsRecordedWithoutHooks) {
  const Config plain = load_config_string(kZones, "plain.yaml");
  const auto choice = choose_hooks(plain, items_in({0, 1}), Lane::high);
  EXPECT_TRUE(choice.zone_ids.empty());
  EXPECT_TRUE(choice.names.empty());
}

}  // namespace
}  // namespace purgeq
