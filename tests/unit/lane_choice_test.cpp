// The lane of an accepted intent: the body's priority, else the API client's, else the first
// access rule's that admits the peer, else normal.
#include "intake/lane_choice.h"

#include <gtest/gtest.h>

#include <string>

#include "intake/intent_parser.h"

namespace purgeq {
namespace {

// Two zones; deploy's rule puts its purges of a.example in the high lane, and the bulk rule
// (for anyone in group "batch") puts b.example in bulk.
const Config& config() {
  static const Config loaded = load_config_string(R"(
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
access:
  - name: deploys-first
    zones: [a.example]
    users: [deploy]
    priority: high
  - name: batch-last
    zones: [b.example]
    groups: [batch]
    priority: bulk
)",
                                                  "lanes.yaml");
  return loaded;
}

ParsedIntent parsed(const std::string& body) {
  auto result = read_intent(body, config());
  if (const auto* error = std::get_if<IntakeError>(&result)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<ParsedIntent>(std::move(result));
}

const PeerIdentity kDeploy{{"1001", "deploy"}, {"1001", "deploy"}};
const PeerIdentity kBatch{{"1002", "cron"}, {"1002", "batch"}};

TEST(LaneChoice, WithoutRulesOrPriorityTheLaneIsNormal) {
  const auto intent = parsed(R"({"files": ["https://a.example/x"]})");
  EXPECT_EQ(choose_lane(config(), intent, nullptr, nullptr), Lane::normal);
  const PeerIdentity nobody{{"4242"}, {"4242"}};
  EXPECT_EQ(choose_lane(config(), intent, nullptr, &nobody), Lane::normal)
      << "no rule with a priority admits this peer";
}

TEST(LaneChoice, TheFirstAccessRuleThatAdmitsThePeerAndMatchesAnItemGivesTheLane) {
  EXPECT_EQ(
      choose_lane(config(), parsed(R"({"files": ["https://a.example/x"]})"), nullptr, &kDeploy),
      Lane::high);
  EXPECT_EQ(
      choose_lane(config(), parsed(R"({"files": ["https://b.example/x"]})"), nullptr, &kBatch),
      Lane::bulk);
  // deploy's rule is about a.example only: its purge of b.example is normal.
  EXPECT_EQ(
      choose_lane(config(), parsed(R"({"files": ["https://b.example/x"]})"), nullptr, &kDeploy),
      Lane::normal);
  // Not looked up (no identity): the rules' lanes are not consulted.
  EXPECT_EQ(
      choose_lane(config(), parsed(R"({"files": ["https://a.example/x"]})"), nullptr, nullptr),
      Lane::normal);
}

TEST(LaneChoice, AnApiClientsLaneReplacesTheRules) {
  ApiClient client;
  client.name = "cms";
  client.priority = Lane::bulk;
  EXPECT_EQ(
      choose_lane(config(), parsed(R"({"files": ["https://a.example/x"]})"), &client, &kDeploy),
      Lane::bulk);
}

TEST(LaneChoice, TheBodysPriorityWinsOverEverything) {
  ApiClient client;
  client.priority = Lane::bulk;
  const auto intent = parsed(R"({"files": ["https://a.example/x"], "priority": "normal"})");
  EXPECT_EQ(choose_lane(config(), intent, &client, &kDeploy), Lane::normal);
  EXPECT_EQ(choose_lane(config(), intent, nullptr, &kDeploy), Lane::normal);
  const auto high = parsed(R"({"files": ["https://b.example/x"], "priority": "high"})");
  EXPECT_EQ(choose_lane(config(), high, nullptr, &kBatch), Lane::high);
}

}  // namespace
}  // namespace purgeq
