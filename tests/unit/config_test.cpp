// Tests for config loading: exact problem messages, defaults, token sources and plan limits.
#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/config_problems.h"

namespace purgeq {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kZoneA = "023e105f4ecef8ad9ca31a8372d0c353";
constexpr const char* kZoneB = "11111111111111111111111111111111";

using test::problems_of;

// Sets an environment variable for one test and restores the previous state afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A fresh directory under the test temp dir, for token files and credentials.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "purgeq_config_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    for (const auto& file : files_) std::remove(file.c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << content;
    files_.push_back(file);
    return file;
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// One account with a token from the environment and one zone: the smallest valid config.
std::string minimal(const std::string& extra = "") {
  return std::string(R"(
accounts:
  - name: main
    token_env: PURGEQ_TEST_TOKEN
    plan: enterprise
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)") + extra;
}

class ConfigTest : public ::testing::Test {
 protected:
  ScopedEnv token_{"PURGEQ_TEST_TOKEN", "secret-token"};
};

TEST(ConfigParseDuration, AcceptsIntegerAndUnit) {
  const std::vector<std::pair<std::string, milliseconds>> good{
      {"0s", milliseconds(0)}, {"0ms", milliseconds(0)},       {"200ms", milliseconds(200)},
      {"1s", seconds(1)},      {"30s", seconds(30)},           {"5m", minutes(5)},
      {"72h", hours(72)},      {"1500ms", milliseconds(1500)}, {"007s", seconds(7)},
      {"90m", minutes(90)},
  };
  for (const auto& [text, expected] : good) {
    EXPECT_EQ(parse_duration(text), expected) << text;
  }
}

TEST(ConfigParseDuration, RejectsEverythingElse) {
  for (const char* text :
       {"", "5", "s", "ms", "5 minutes", "5 s", " 5s", "5s ", "-1s", "+1s", "1.5s", "1h30m", "5S",
        "5sec", "5d", "1e3ms", "0x10s", "99999999999999999999h", "9223372036854775807h"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(ConfigFormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(seconds(90)), "90s");
  EXPECT_EQ(format_duration(minutes(5)), "5m");
  EXPECT_EQ(format_duration(hours(72)), "72h");
}

TEST(ConfigPlan, DocumentedDefaults) {
  struct Row {
    Plan plan;
    double rps, burst, ups;
    int ops, urls;
  };
  const std::vector<Row> rows{
      {Plan::free, 5.0 / 60.0, 25, 800, 100, 100},
      {Plan::pro, 5, 25, 1500, 100, 100},
      {Plan::business, 10, 50, 1500, 100, 100},
      {Plan::enterprise, 50, 500, 3000, 100, 500},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(to_string(row.plan)));
    const Limits limits = limits_for_plan(row.plan);
    EXPECT_DOUBLE_EQ(limits.requests_per_second, row.rps);
    EXPECT_DOUBLE_EQ(limits.burst, row.burst);
    EXPECT_DOUBLE_EQ(limits.urls_per_second, row.ups);
    EXPECT_EQ(limits.max_ops_per_request, row.ops);
    EXPECT_EQ(limits.max_urls_per_request, row.urls);
    EXPECT_EQ(limits.global_requests, 1200);
    EXPECT_EQ(limits.global_window, minutes(5));
    EXPECT_EQ(limits.max_in_flight, 4);
  }
}

TEST(ConfigPlan, NamesRoundTrip) {
  for (const Plan plan : {Plan::free, Plan::pro, Plan::business, Plan::enterprise}) {
    EXPECT_EQ(plan_from_string(to_string(plan)), plan);
  }
  EXPECT_EQ(plan_from_string("Enterprise"), std::nullopt);
  for (const LogLevel level :
       {LogLevel::debug, LogLevel::info, LogLevel::notice, LogLevel::warning, LogLevel::error}) {
    EXPECT_EQ(log_level_from_string(to_string(level)), level);
  }
  EXPECT_EQ(log_level_from_string("warn"), std::nullopt);
}

TEST_F(ConfigTest, CompleteConfigRoundTrips) {
  TempDir dir;
  const std::string token_file = dir.write("token", "file-token\n");
  const Config config = load_config_string(R"(
listen:
  socket: /run/purgeq/test.sock
  mode: "0640"
  group: www-data
storage:
  path: /var/lib/purgeq/test.db
cloudflare:
  api_base: http://127.0.0.1:8080/client/v4/
  timeout: 5s
dry_run: false
accounts:
  - name: main
    token_file: )" + token_file + R"(
    plan: enterprise
    limits:
      requests_per_second: 40
      burst: 400
      urls_per_second: 2500.5
      max_ops_per_request: 30
      max_urls_per_request: 250
      global_requests: 0
      global_window: 10m
      max_in_flight: 8
  - name: side
    token_env: PURGEQ_TEST_TOKEN
    plan: free
zones:
  - name: Example.COM
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
    hosts: [Example.com, "*.EXAMPLE.com", static.example.net]
  - name: example.org
    id: 11111111111111111111111111111111
    account: side
batching:
  linger: 0ms
  adaptive: false
retry:
  initial: 250ms
  max: 2m
  give_up_after: 1h
log:
  level: debug
access:
  - name: deployers
    zones: [example.com, 11111111111111111111111111111111]
    kinds: [files, tag]
    users: [deploy, "1001"]
  - groups: [www-data]
)");
  EXPECT_EQ(config.listen.socket, "/run/purgeq/test.sock");
  EXPECT_EQ(config.listen.mode, 0640u);
  EXPECT_EQ(config.listen.group, "www-data");
  EXPECT_EQ(config.storage.path, "/var/lib/purgeq/test.db");
  EXPECT_EQ(config.cloudflare.api_base, "http://127.0.0.1:8080/client/v4");
  EXPECT_EQ(config.cloudflare.timeout, seconds(5));
  EXPECT_FALSE(config.dry_run);

  ASSERT_EQ(config.accounts.size(), 2u);
  const Account& main = config.accounts[0];
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.plan, Plan::enterprise);
  EXPECT_EQ(main.token, "file-token");
  EXPECT_EQ(main.token_source, "token_file " + token_file);
  EXPECT_DOUBLE_EQ(main.limits.requests_per_second, 40);
  EXPECT_DOUBLE_EQ(main.limits.burst, 400);
  EXPECT_DOUBLE_EQ(main.limits.urls_per_second, 2500.5);
  EXPECT_EQ(main.limits.max_ops_per_request, 30);
  EXPECT_EQ(main.limits.max_urls_per_request, 250);
  EXPECT_EQ(main.limits.global_requests, 0);
  EXPECT_EQ(main.limits.global_window, minutes(10));
  EXPECT_EQ(main.limits.max_in_flight, 8);
  const Account& side = config.accounts[1];
  EXPECT_EQ(side.name, "side");
  EXPECT_EQ(side.plan, Plan::free);
  EXPECT_EQ(side.token, "secret-token");
  EXPECT_EQ(side.token_source, "token_env PURGEQ_TEST_TOKEN");
  EXPECT_DOUBLE_EQ(side.limits.requests_per_second, 5.0 / 60.0);
  EXPECT_EQ(side.limits.max_urls_per_request, 100);

  ASSERT_EQ(config.zones.size(), 2u);
  EXPECT_EQ(config.zones[0].name, "example.com");
  EXPECT_EQ(config.zones[0].id, kZoneA);
  EXPECT_EQ(config.zones[0].account, "main");
  EXPECT_EQ(config.zones[0].account_index, 0u);
  EXPECT_EQ(config.zones[0].hosts,
            (std::vector<std::string>{"example.com", "*.example.com", "static.example.net"}));
  EXPECT_EQ(config.zones[1].name, "example.org");
  EXPECT_EQ(config.zones[1].account_index, 1u);
  EXPECT_EQ(config.zones[1].hosts, (std::vector<std::string>{"example.org", "*.example.org"}));

  EXPECT_EQ(config.batching.linger, milliseconds(0));
  EXPECT_FALSE(config.batching.adaptive);
  EXPECT_EQ(config.retry.initial, milliseconds(250));
  EXPECT_EQ(config.retry.max, minutes(2));
  EXPECT_EQ(config.retry.give_up_after, hours(1));
  EXPECT_EQ(config.log.level, LogLevel::debug);

  ASSERT_EQ(config.access.size(), 2u);
  EXPECT_EQ(config.access[0].name, "deployers");
  EXPECT_EQ(config.access[0].zones, (std::vector<std::string>{"example.com", "example.org"}));
  EXPECT_EQ(config.access[0].kinds, (std::vector<Kind>{Kind::file, Kind::tag}));
  EXPECT_EQ(config.access[0].users, (std::vector<std::string>{"deploy", "1001"}));
  EXPECT_TRUE(config.access[0].groups.empty());
  EXPECT_EQ(config.access[1].name, "access[1]");
  EXPECT_TRUE(config.access[1].zones.empty());
  EXPECT_TRUE(config.access[1].kinds.empty());
  EXPECT_EQ(config.access[1].groups, (std::vector<std::string>{"www-data"}));
}

TEST_F(ConfigTest, AbsentSectionsKeepDefaults) {
  const Config config = load_config_string(minimal());
  const Config defaults;
  EXPECT_EQ(config.listen.socket, defaults.listen.socket);
  EXPECT_EQ(config.listen.mode, 0660u);
  EXPECT_EQ(config.listen.group, "");
  EXPECT_EQ(config.storage.path, defaults.storage.path);
  EXPECT_EQ(config.cloudflare.api_base, "https://api.cloudflare.com/client/v4");
  EXPECT_EQ(config.cloudflare.timeout, seconds(30));
  EXPECT_FALSE(config.dry_run);
  EXPECT_EQ(config.batching.linger, milliseconds(200));
  EXPECT_TRUE(config.batching.adaptive);
  EXPECT_EQ(config.retry.initial, seconds(1));
  EXPECT_EQ(config.retry.max, minutes(5));
  EXPECT_EQ(config.retry.give_up_after, hours(72));
  EXPECT_EQ(config.log.level, LogLevel::info);
  EXPECT_TRUE(config.access.empty());
  ASSERT_EQ(config.accounts.size(), 1u);
  EXPECT_DOUBLE_EQ(config.accounts[0].limits.burst, 500);
  EXPECT_EQ(config.zones[0].hosts, (std::vector<std::string>{"example.com", "*.example.com"}));
}

TEST_F(ConfigTest, EmptySectionsKeepDefaults) {
  // Every child commented out leaves a null section: that means "all defaults", not an error.
  const Config config =
      load_config_string(minimal("listen:\nstorage:\ncloudflare:\nbatching:\nretry:\nlog:\n"));
  EXPECT_EQ(config.listen.mode, 0660u);
  EXPECT_EQ(config.retry.max, minutes(5));
}

TEST_F(ConfigTest, JsonIsYaml) {
  // The integration harness writes its configs as JSON.
  const Config config = load_config_string(
      R"({"listen": {"socket": "/tmp/x.sock", "mode": "0660"}, "dry_run": true,
          "accounts": [{"name": "a", "plan": "pro"}],
          "zones": [{"name": "a.example", "id": "023e105f4ecef8ad9ca31a8372d0c353", "account": "a"}],
          "batching": {"linger": "100ms"}})");
  EXPECT_TRUE(config.dry_run);
  EXPECT_EQ(config.accounts[0].plan, Plan::pro);
  EXPECT_EQ(config.batching.linger, milliseconds(100));
}

TEST_F(ConfigTest, UnknownKeySuggestsTheNearestOne) {
  EXPECT_EQ(problems_of(minimal("batching:\n  lingr: 1s\n")),
            (std::vector<std::string>{R"(batching.lingr: unknown key (did you mean "linger"?))"}));
  EXPECT_EQ(
      problems_of(minimal("retry:\n  give_up: 1h\n")),
      (std::vector<std::string>{R"(retry.give_up: unknown key (did you mean "give_up_after"?))"}));
  EXPECT_EQ(problems_of(minimal("batching:\n  Linger: 1s\n")),
            (std::vector<std::string>{R"(batching.Linger: unknown key (did you mean "linger"?))"}));
  EXPECT_EQ(problems_of(minimal("log:\n  levl: info\n")),
            (std::vector<std::string>{R"(log.levl: unknown key (did you mean "level"?))"}));
  EXPECT_EQ(problems_of(minimal("zone:\n  - name: x\n")),
            (std::vector<std::string>{R"(zone: unknown key (did you mean "zones"?))"}));
}

TEST_F(ConfigTest, UnknownKeyWithoutNearOneListsTheValidKeys) {
  EXPECT_EQ(
      problems_of(minimal("batching:\n  flush_after: 1s\n")),
      (std::vector<std::string>{"batching.flush_after: unknown key (valid keys: linger, adaptive, "
                                "lane_share_every)"}));
  EXPECT_EQ(
      problems_of(minimal("cloudflare:\n  email: a@b.c\n")),
      (std::vector<std::string>{"cloudflare.email: unknown key (valid keys: api_base, timeout)"}));
}

TEST_F(ConfigTest, UnknownKeysInsideListsNameTheIndex) {
  EXPECT_EQ(problems_of(R"(
accounts:
  - name: main
    token_env: PURGEQ_TEST_TOKEN
    plan: pro
    limits:
      burts: 10
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    acount: main
)"),
            (std::vector<std::string>{
                R"(accounts[0].limits.burts: unknown key (did you mean "burst"?))",
                // A likely typo of a required key stands alone: "account: required" would
                // only repeat it.
                R"(zones[0].acount: unknown key (did you mean "account"?))",
            }));
}

TEST_F(ConfigTest, DuplicateKeyIsAnError) {
  EXPECT_EQ(problems_of(minimal("batching:\n  linger: 1s\n  linger: 2s\n")),
            (std::vector<std::string>{"batching.linger: duplicate key"}));
}

TEST_F(ConfigTest, UnknownAccount) {
  EXPECT_EQ(problems_of(minimal(R"(  - name: example.org
    id: 11111111111111111111111111111111
    account: mian
)")),
            (std::vector<std::string>{R"(zones[1].account: unknown account "mian")"}));
}

TEST_F(ConfigTest, DuplicateZoneNameAndId) {
  EXPECT_EQ(
      problems_of(minimal(R"(  - name: example.org
    id: 11111111111111111111111111111111
    account: main
  - name: Example.com
    id: 22222222222222222222222222222222
    account: main
  - name: example.net
    id: 11111111111111111111111111111111
    account: main
)")),
      (std::vector<std::string>{
          R"(zones[2].name: duplicate zone "example.com" (also zones[0]))",
          R"(zones[3].id: duplicate zone id "11111111111111111111111111111111" (also zones[1]))",
      }));
}

TEST_F(ConfigTest, DuplicateAccountName) {
  EXPECT_EQ(problems_of(R"(
accounts:
  - {name: main, plan: pro, token_env: PURGEQ_TEST_TOKEN}
  - {name: main, plan: free, token_env: PURGEQ_TEST_TOKEN}
zones:
  - {name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}
)"),
            (std::vector<std::string>{
                R"(accounts[1].name: duplicate account "main" (also accounts[0]))"}));
}

TEST_F(ConfigTest, BadDurations) {
  EXPECT_EQ(problems_of(minimal("retry:\n  max: 5 minutes\n")),
            (std::vector<std::string>{
                R"(retry.max: invalid duration "5 minutes" (use a number and ms, s, m or h))"}));
  EXPECT_EQ(problems_of(minimal("cloudflare:\n  timeout: 30\n")),
            (std::vector<std::string>{
                R"(cloudflare.timeout: invalid duration "30" (use a number and ms, s, m or h))"}));
  EXPECT_EQ(
      problems_of(minimal("batching:\n  linger: [1s]\n")),
      (std::vector<std::string>{R"(batching.linger: expected a duration like "30s", got a list)"}));
}

TEST_F(ConfigTest, ZeroDurationsOnlyWhereTheyMakeSense) {
  EXPECT_EQ(load_config_string(minimal("batching:\n  linger: 0s\n")).batching.linger,
            milliseconds(0));
  EXPECT_EQ(problems_of(minimal("cloudflare:\n  timeout: 0s\nretry:\n  initial: 0ms\n  max: "
                                "0s\n  give_up_after: 0h\n")),
            (std::vector<std::string>{
                "cloudflare.timeout: must be greater than 0",
                "retry.initial: must be greater than 0",
                "retry.max: must be greater than 0",
                "retry.give_up_after: must be greater than 0",
            }));
}

TEST_F(ConfigTest, RetryMaxMustNotBeBelowInitial) {
  EXPECT_EQ(problems_of(minimal("retry:\n  initial: 10s\n  max: 5s\n")),
            (std::vector<std::string>{"retry.max: must be at least retry.initial (10s)"}));
  EXPECT_EQ(
      problems_of(minimal("retry:\n  initial: 10m\n")),
      (std::vector<std::string>{"retry.initial: must be at most retry.max (5m, the default)"}));
}

TEST_F(ConfigTest, ZoneEverythingDefaultsToNoInterval) {
  const auto config = load_config_string(minimal());
  EXPECT_EQ(config.zones.at(0).everything.min_interval, milliseconds(0));
  EXPECT_EQ(config.zones.at(0).everything.within, Zone::Everything::Within::merge);
}

TEST_F(ConfigTest, ZoneEverythingGuardrail) {
  auto config = load_config_string(minimal("    everything:\n      min_interval: 60s\n"));
  EXPECT_EQ(config.zones.at(0).everything.min_interval, seconds(60));
  EXPECT_EQ(config.zones.at(0).everything.within, Zone::Everything::Within::merge);
  config = load_config_string(minimal("    everything: {min_interval: 5m, within: refuse}\n"));
  EXPECT_EQ(config.zones.at(0).everything.min_interval, minutes(5));
  EXPECT_EQ(config.zones.at(0).everything.within, Zone::Everything::Within::refuse);
}

TEST_F(ConfigTest, ZoneEverythingProblemsNameTheKey) {
  EXPECT_EQ(
      problems_of(minimal("    everything: {within: refuse}\n")),
      (std::vector<std::string>{
          R"(zones[0].everything.min_interval: required (a duration like "60s"; leave out `everything` for no interval))"}));
  EXPECT_EQ(problems_of(minimal("    everything: {min_interval: 0s}\n")),
            (std::vector<std::string>{"zones[0].everything.min_interval: must be greater than 0"}));
  EXPECT_EQ(
      problems_of(minimal("    everything: {min_interval: 60, within: refuse}\n")),
      (std::vector<std::string>{
          R"(zones[0].everything.min_interval: invalid duration "60" (use a number and ms, s, m or h))"}));
  const auto within = problems_of(minimal("    everything: {min_interval: 60s, within: drop}\n"));
  ASSERT_EQ(within.size(), 1U);
  EXPECT_TRUE(within[0].starts_with(R"(zones[0].everything.within: unknown within "drop")"))
      << within[0];
  const auto unknown = problems_of(minimal("    everything: {min_interval: 60s, interval: 5s}\n"));
  ASSERT_EQ(unknown.size(), 1U);
  EXPECT_TRUE(unknown[0].starts_with("zones[0].everything.interval")) << unknown[0];
  EXPECT_EQ(problems_of(minimal("    everything: 60s\n")).size(), 1U);
}

TEST_F(ConfigTest, BadZoneId) {
  const std::string message =
      "zones[0].id: must be 32 lowercase hex characters (the zone id, not its name)";
  for (const char* id :
       {"example.com", "023E105F4ECEF8AD9CA31A8372D0C353", "023e105f4ecef8ad9ca31a8372d0c35",
        "023e105f4ecef8ad9ca31a8372d0c353a", "023e105f4ecef8ad9ca31a8372d0c35g"}) {
    EXPECT_EQ(problems_of(std::string(R"(
accounts: [{name: main, plan: pro, token_env: PURGEQ_TEST_TOKEN}]
zones:
  - name: example.com
    account: main
    id: )") + id + "\n"),
              (std::vector<std::string>{message}))
        << id;
  }
}

TEST_F(ConfigTest, RequiredKeys) {
  EXPECT_EQ(problems_of(R"(
accounts:
  - token_env: PURGEQ_TEST_TOKEN
zones:
  - hosts: [example.com]
)"),
            // Zones by name: a zone's id, an account's plan and, with one account, a zone's
            // account are optional (docs/configuration.md).
            (std::vector<std::string>{
                "accounts[0].name: required",
                "zones[0].name: required",
            }));
  EXPECT_EQ(problems_of(R"(
accounts:
  - {name: one, token_env: PURGEQ_TEST_TOKEN}
  - {name: two, token_env: PURGEQ_TEST_TOKEN}
zones:
  - name: example.com
)"),
            (std::vector<std::string>{
                "zones[0].account: required when there are several accounts (one or two)"}));
  EXPECT_EQ(problems_of("dry_run: true\n"),
            (std::vector<std::string>{"accounts: at least one account is required",
                                      "zones: at least one zone is required"}));
  EXPECT_EQ(problems_of(""), (std::vector<std::string>{"accounts: at least one account is required",
                                                       "zones: at least one zone is required"}));
  EXPECT_EQ(problems_of("accounts: []\nzones:\n"),
            (std::vector<std::string>{"accounts: at least one account is required",
                                      "zones: at least one zone is required"}));
}

TEST_F(ConfigTest, UnknownPlan) {
  EXPECT_EQ(problems_of(R"(
accounts:
  - {name: a, plan: enterprize, token_env: PURGEQ_TEST_TOKEN}
  - {name: b, plan: gold, token_env: PURGEQ_TEST_TOKEN}
zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: a}]
)"),
            (std::vector<std::string>{
                R"(accounts[0].plan: unknown plan "enterprize" (did you mean "enterprise"?))",
                R"(accounts[1].plan: unknown plan "gold" (use free, pro, business or enterprise))",
            }));
}

TEST_F(ConfigTest, PlanDefaultsAndOverrides) {
  const Config config = load_config_string(R"(
accounts:
  - name: biz
    token_env: PURGEQ_TEST_TOKEN
    plan: business
    limits:
      max_urls_per_request: 30
      requests_per_second: 2.5
  - name: pro
    token_env: PURGEQ_TEST_TOKEN
    plan: pro
zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: biz}]
)");
  const Limits& biz = config.accounts[0].limits;
  EXPECT_DOUBLE_EQ(biz.requests_per_second, 2.5);
  EXPECT_DOUBLE_EQ(biz.burst, 50);
  EXPECT_DOUBLE_EQ(biz.urls_per_second, 1500);
  EXPECT_EQ(biz.max_ops_per_request, 100);
  EXPECT_EQ(biz.max_urls_per_request, 30);
  EXPECT_EQ(biz.max_in_flight, 4);
  const Limits& pro = config.accounts[1].limits;
  EXPECT_DOUBLE_EQ(pro.requests_per_second, 5);
  EXPECT_DOUBLE_EQ(pro.burst, 25);
  EXPECT_DOUBLE_EQ(pro.urls_per_second, 1500);
  EXPECT_EQ(pro.max_urls_per_request, 100);
}

TEST_F(ConfigTest, LimitRanges) {
  EXPECT_EQ(problems_of(R"(
accounts:
  - name: main
    token_env: PURGEQ_TEST_TOKEN
    plan: pro
    limits:
      requests_per_second: 0
      burst: 0.5
      urls_per_second: -1
      max_ops_per_request: 1001
      max_urls_per_request: 0
      global_requests: -1
      global_window: 0s
      max_in_flight: 65
zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}]
)"),
            (std::vector<std::string>{
                "accounts[0].limits.requests_per_second: must be greater than 0, got 0",
                "accounts[0].limits.burst: must be at least 1, got 0.5",
                "accounts[0].limits.urls_per_second: must be greater than 0, got -1",
                "accounts[0].limits.max_ops_per_request: must be between 1 and 1000, got 1001",
                "accounts[0].limits.max_urls_per_request: must be at least 1, got 0",
                "accounts[0].limits.global_requests: must be at least 0, got -1",
                "accounts[0].limits.global_window: must be greater than 0",
                "accounts[0].limits.max_in_flight: must be between 1 and 64, got 65",
            }));
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_EQ(problems_of(R"(
listen: [a, b]
storage: /var/lib/purgeq
dry_run: maybe
accounts:
  name: main
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
    hosts: example.com
  - just-a-string
access:
  - zones: example.com
    users: [deploy]
)"),
            (std::vector<std::string>{
                "listen: expected a map, got a list",
                R"(storage: expected a map, got "/var/lib/purgeq")",
                R"(dry_run: expected true or false, got "maybe")",
                "accounts: expected a list, got a map",
                R"(zones[0].hosts: expected a list, got "example.com")",
                R"(zones[1]: expected a map, got "just-a-string")",
                R"(access[0].zones: expected a list, got "example.com")",
            }));
  EXPECT_EQ(problems_of(R"(
accounts:
  - name: [main]
    token_env: PURGEQ_TEST_TOKEN
    plan: pro
    limits:
      burst: lots
      max_in_flight: 2.5
zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}]
)"),
            (std::vector<std::string>{
                "accounts[0].name: expected a string, got a list",
                R"(accounts[0].limits.burst: expected a number, got "lots")",
                R"(accounts[0].limits.max_in_flight: expected an integer, got "2.5")",
                R"(zones[0].account: unknown account "main")",
            }));
  EXPECT_EQ(problems_of("- a\n- b\n"),
            (std::vector<std::string>{"<string>: expected a map of settings, got a list"}));
}

TEST_F(ConfigTest, ProblemsAreReportedTogetherInDocumentOrder) {
  // zones precede accounts and retry precedes listen: the loader validates in another order.
  EXPECT_EQ(
      problems_of(R"(
retry:
  max: 5 minutes
zones:
  - name: example.com
    id: example.com
    account: main
  - name: example.org
    id: 11111111111111111111111111111111
    account: mian
accounts:
  - name: main
    plan: platinum
    token_env: PURGEQ_TEST_TOKEN
listen:
  mode: "0999"
batching:
  lingr: 1s
log:
  level: verbose
)"),
      (std::vector<std::string>{
          R"(retry.max: invalid duration "5 minutes" (use a number and ms, s, m or h))",
          "zones[0].id: must be 32 lowercase hex characters (the zone id, not its name)",
          R"(zones[1].account: unknown account "mian")",
          R"(accounts[0].plan: unknown plan "platinum" (use free, pro, business or enterprise))",
          R"(listen.mode: invalid mode "0999" (use octal digits like "0660"))",
          R"(batching.lingr: unknown key (did you mean "linger"?))",
          R"(log.level: unknown level "verbose" (use debug, info, notice, warning or error))",
      }));
}

TEST_F(ConfigTest, WhatJoinsAllProblems) {
  try {
    (void)load_config_string(minimal("batching:\n  lingr: 1s\nlog:\n  level: loud\n"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "batching.lingr: unknown key (did you mean \"linger\"?)\n"
                 "log.level: unknown level \"loud\" (use debug, info, notice, warning or error)");
  }
}

TEST(ConfigSyntax, YamlErrorNamesFileLineAndColumn) {
  try {
    (void)load_config_string("listen:\n  socket: /x\nzones: [a, b\n", "/etc/purgeq/purgeq.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(
        e.problems(),
        (std::vector<std::string>{"/etc/purgeq/purgeq.yaml:4:1: end of sequence flow not found"}));
  }
  try {
    (void)load_config_string("listen:\n  socket: /x\n mode: 1\n");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.problems(),
              (std::vector<std::string>{
                  "<string>:3:2: \"mode\" (line 3) is indented 1 space, which lines up with no "
                  "block around it; indent it 2 spaces to continue the block of line 2, or 0 "
                  "spaces for a key of the enclosing block (YAML parser: end of map not found at "
                  "line 3, column 2)"}));
  }
}

// The first hour's mistakes (issue 20): each names the line at fault and the fix, with the
// parser's own words last.
TEST(ConfigSyntax, UnderIndentedKeyNamesItsLineAndTheIndentation) {
  // The zone's `hosts` pushed back to the list's column: yaml-cpp says "end of map not found".
  EXPECT_EQ(test::problems_of(R"(accounts:
  - name: main
    token_env: PURGEQ_TEST_TOKEN
    plan: free
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
  hosts: [example.com]
)"),
            (std::vector<std::string>{
                "<string>:9:3: \"hosts\" (line 9) is indented 2 spaces like the list entries "
                "(\"- \") of line 6, but is not an entry; indent it 4 spaces to add it to the "
                "entry above, or start a new entry with \"- \" (YAML parser: end of map not found "
                "at line 9, column 3)"}));
  // One space short inside a section.
  EXPECT_EQ(test::problems_of("retry:\n  initial: 1s\n  max: 5m\n give_up_after: 72h\n"),
            (std::vector<std::string>{
                "<string>:4:2: \"give_up_after\" (line 4) is indented 1 space, which lines up "
                "with no block around it; indent it 2 spaces to continue the block of line 2, or "
                "0 spaces for a key of the enclosing block (YAML parser: end of map not found at "
                "line 4, column 2)"}));
}

TEST(ConfigSyntax, OverIndentedKeyNamesTheLineThatAlreadyHasAValue) {
  EXPECT_EQ(
      test::problems_of("storage:\n  path: run/queue.db\n    backend: sqlite\n"),
      (std::vector<std::string>{
          "<string>:3:5: \"backend\" (line 3) is indented 4 spaces, deeper than line 2 "
          "(\"path: run/queue.db\"), which already has a value on its line; indent it 2 "
          "spaces like line 2, or, if line 2 is what is out of place, line that one up with "
          "the keys of its own block (YAML parser: illegal map value at line 3, column 12)"}));
  EXPECT_EQ(test::problems_of("listen:\n\tsocket: x\n"),
            (std::vector<std::string>{
                "<string>:2:1: line 2 is indented with a tab; YAML indents with spaces only: "
                "replace the tab with spaces (YAML parser: illegal map value at line 2, column "
                "8)"}));
  EXPECT_EQ(test::problems_of("log:\n  level: info: debug\n"),
            (std::vector<std::string>{
                "<string>:2:10: the value on line 2 contains \": \", which YAML reads as another "
                "key; put the value in quotes: \"info: debug\" (YAML parser: illegal map value at "
                "line 2, column 14)"}));
}

TEST(ConfigSyntax, UnquotedWildcardHostSaysToQuoteIt) {
  const std::string expected =
      "<string>:10:26: *.example.com on line 10: an unquoted '*' starts a YAML alias (a reference "
      "to an &anchor), and no anchor has that name; to write a wildcard, quote it: "
      "\"*.example.com\" (YAML parser: the referenced anchor is not defined at line 10, column 26)";
  EXPECT_EQ(test::problems_of(minimal("    hosts: [example.com, *.example.com]\n")),
            std::vector<std::string>{expected});
}

TEST_F(ConfigTest, MisspelledTokenKeyIsReportedWithoutItsKnockOnErrors) {
  EXPECT_EQ(test::problems_of(R"(accounts:
  - name: main
    tokenfile: /etc/purgeq/token
    plan: free
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)"),
            (std::vector<std::string>{
                R"(accounts[0].tokenfile: unknown key (did you mean "token_file"?))"}));
  // A misspelled section is not reported again as missing, nor are its references.
  EXPECT_EQ(test::problems_of(R"(acounts:
  - name: main
    token_env: PURGEQ_TEST_TOKEN
    plan: free
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)"),
            (std::vector<std::string>{R"(acounts: unknown key (did you mean "accounts"?))"}));
  // Without a near miss, the missing token is still the error.
  EXPECT_EQ(test::problems_of(R"(accounts:
  - name: main
    plan: free
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)"),
            (std::vector<std::string>{
                "accounts[0]: no token (set token_file, token_env or token_credential)"}));
}

TEST(ConfigSyntax, MoreThanOneDocument) {
  EXPECT_EQ(problems_of("dry_run: true\n---\ndry_run: false\n"),
            (std::vector<std::string>{"<string>: expected one YAML document, found more"}));
}

// Found by fuzz_config: yaml-cpp 0.7's LoadAll never returned on this input (it kept allocating
// nodes), so `purgeqd --check-config` hung. It must end, with or without a complaint.
TEST(ConfigSyntax, MalformedFlowEntryDoesNotHang) {
  for (const std::string text : {",a: 1\n", ",", ",,a: 1\n---\n,b: 2\n"}) {
    try {
      (void)load_config_string(text);
    } catch (const ConfigError&) {  // NOLINT(bugprone-empty-catch): refusing it is fine too
    }
  }
  SUCCEED();
}

TEST(ConfigFile, LoadsFromDiskAndNamesUnreadableFiles) {
  TempDir dir;
  const std::string path = dir.write("purgeq.yaml", R"(
dry_run: true
accounts: [{name: main, plan: free}]
zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}]
)");
  EXPECT_TRUE(load_config_file(path).dry_run);
  const std::string missing = dir.path() + "/missing.yaml";
  try {
    (void)load_config_file(missing);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.problems(),
              (std::vector<std::string>{missing + ": cannot read: No such file or directory"}));
  }
  const std::string broken = dir.write("broken.yaml", "zones: [\n");
  try {
    (void)load_config_file(broken);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].rfind(broken + ":2:1: ", 0), 0u) << e.problems()[0];
  }
}

// --- tokens ---

std::string with_token(const std::string& token_lines, bool dry_run) {
  return std::string("dry_run: ") + (dry_run ? "true" : "false") + R"(
accounts:
  - name: main
    plan: pro
)" + token_lines +
         R"(zones: [{name: example.com, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}]
)";
}

TEST(ConfigToken, MissingTokenIsAnErrorUnlessDryRun) {
  EXPECT_EQ(problems_of(with_token("", false)),
            (std::vector<std::string>{
                "accounts[0]: no token (set token_file, token_env or token_credential)"}));
  const Config config = load_config_string(with_token("", true));
  EXPECT_EQ(config.accounts[0].token, "");
  EXPECT_EQ(config.accounts[0].token_source, "");
}

TEST(ConfigToken, FileIsReadAndTrimmed) {
  TempDir dir;
  const std::string file = dir.write("token", "  abc123-XYZ_token \r\n\n");
  const Config config = load_config_string(with_token("    token_file: " + file + "\n", false));
  EXPECT_EQ(config.accounts[0].token, "abc123-XYZ_token");
  EXPECT_EQ(config.accounts[0].token_source, "token_file " + file);
}

TEST(ConfigToken, UnreadableOrEmptyFile) {
  TempDir dir;
  const std::string missing = dir.path() + "/nope";
  EXPECT_EQ(problems_of(with_token("    token_file: " + missing + "\n", false)),
            (std::vector<std::string>{"accounts[0].token_file: cannot read \"" + missing +
                                      "\": No such file or directory"}));
  const std::string empty = dir.write("empty", "\n\n");
  EXPECT_EQ(problems_of(with_token("    token_file: " + empty + "\n", false)),
            (std::vector<std::string>{"accounts[0].token_file: \"" + empty + "\" is empty"}));
  const std::string two = dir.write("two", "first\nsecond\n");
  EXPECT_EQ(problems_of(with_token("    token_file: " + two + "\n", false)),
            (std::vector<std::string>{"accounts[0].token_file: \"" + two +
                                      "\" does not hold one token (it has spaces or control "
                                      "characters)"}));
  // A dry run may run where the secret is not deployed.
  const Config config = load_config_string(with_token("    token_file: " + missing + "\n", true));
  EXPECT_EQ(config.accounts[0].token, "");
  EXPECT_EQ(config.accounts[0].token_source, "token_file " + missing);
}

TEST(ConfigToken, NonAsciiTokenIsNamedAsSuch) {
  TempDir dir;
  const std::string accented = dir.write("accented", "t\xc3\xb6k\xc3\xa9n\n");
  EXPECT_EQ(problems_of(with_token("    token_file: " + accented + "\n", false)),
            (std::vector<std::string>{"accounts[0].token_file: \"" + accented +
                                      "\" does not hold one token (it has non-ASCII characters)"}));
  ScopedEnv env("PURGEQ_TEST_TOKEN", "secr\xe9t");
  EXPECT_EQ(problems_of(with_token("    token_env: PURGEQ_TEST_TOKEN\n", false)),
            (std::vector<std::string>{"accounts[0].token_env: environment variable "
                                      "PURGEQ_TEST_TOKEN does not hold one token (it has "
                                      "non-ASCII characters)"}));
}

TEST(ConfigToken, FromEnvironment) {
  {
    ScopedEnv env("PURGEQ_TEST_TOKEN", "env-secret\n");
    const Config config =
        load_config_string(with_token("    token_env: PURGEQ_TEST_TOKEN\n", false));
    EXPECT_EQ(config.accounts[0].token, "env-secret");
    EXPECT_EQ(config.accounts[0].token_source, "token_env PURGEQ_TEST_TOKEN");
  }
  {
    ScopedEnv env("PURGEQ_TEST_TOKEN", nullptr);
    EXPECT_EQ(problems_of(with_token("    token_env: PURGEQ_TEST_TOKEN\n", false)),
              (std::vector<std::string>{
                  "accounts[0].token_env: environment variable PURGEQ_TEST_TOKEN is not set"}));
    EXPECT_EQ(load_config_string(with_token("    token_env: PURGEQ_TEST_TOKEN\n", true))
                  .accounts[0]
                  .token,
              "");
  }
  {
    ScopedEnv env("PURGEQ_TEST_TOKEN", "");
    EXPECT_EQ(problems_of(with_token("    token_env: PURGEQ_TEST_TOKEN\n", false)),
              (std::vector<std::string>{
                  "accounts[0].token_env: environment variable PURGEQ_TEST_TOKEN is empty"}));
  }
}

TEST(ConfigToken, FromSystemdCredential) {
  TempDir dir;
  dir.write("cloudflare", "cred-secret\n");
  {
    ScopedEnv env("CREDENTIALS_DIRECTORY", dir.path().c_str());
    const Config config =
        load_config_string(with_token("    token_credential: cloudflare\n", false));
    EXPECT_EQ(config.accounts[0].token, "cred-secret");
    EXPECT_EQ(config.accounts[0].token_source, "token_credential cloudflare");
    EXPECT_EQ(problems_of(with_token("    token_credential: other\n", false)),
              (std::vector<std::string>{"accounts[0].token_credential: cannot read \"" +
                                        dir.path() + "/other\": No such file or directory"}));
    EXPECT_EQ(problems_of(with_token("    token_credential: ../cloudflare\n", false)),
              (std::vector<std::string>{
                  "accounts[0].token_credential: \"../cloudflare\" is a path; give the "
                  "credential's name (LoadCredential=NAME:...)"}));
  }
  {
    ScopedEnv env("CREDENTIALS_DIRECTORY", nullptr);
    EXPECT_EQ(problems_of(with_token("    token_credential: cloudflare\n", false)),
              (std::vector<std::string>{
                  "accounts[0].token_credential: CREDENTIALS_DIRECTORY is not set (run under "
                  "systemd with LoadCredential=)"}));
  }
}

TEST(ConfigToken, OnlyOneSource) {
  ScopedEnv env("PURGEQ_TEST_TOKEN", "x");
  const std::vector<std::string> expected{
      "accounts[0].token_env: conflicts with token_file (set only one token source)"};
  EXPECT_EQ(problems_of(with_token(
                "    token_file: /nonexistent\n    token_env: PURGEQ_TEST_TOKEN\n", false)),
            expected);
  // Still an error in a dry run: it is a mistake in the file, not a missing secret.
  EXPECT_EQ(problems_of(with_token(
                "    token_file: /nonexistent\n    token_env: PURGEQ_TEST_TOKEN\n", true)),
            expected);
}

TEST(ConfigToken, SecretNeverAppearsInMessages) {
  TempDir dir;
  const std::string file = dir.write("token", "sup3r-secret with-space\n");
  const auto problems = problems_of(with_token("    token_file: " + file + "\n", false));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].find("sup3r"), std::string::npos) << problems[0];
}

// --- zones, hosts, listen, cloudflare, access ---

TEST_F(ConfigTest, HostsAreLowerCasedAndValidated) {
  EXPECT_EQ(problems_of(R"(
accounts: [{name: main, plan: pro, token_env: PURGEQ_TEST_TOKEN}]
zones:
  - name: exa_mple.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
  - name: example.org
    id: 11111111111111111111111111111111
    account: main
    hosts: [example.org, "foo..example.org", "*.", "**.example.org", "a b.example.org", ""]
)"),
            (std::vector<std::string>{
                R"(zones[0].name: "exa_mple.com" is not a valid hostname)",
                R"(zones[1].hosts[1]: "foo..example.org" is not a hostname or "*." and a hostname)",
                R"(zones[1].hosts[2]: "*." is not a hostname or "*." and a hostname)",
                R"(zones[1].hosts[3]: "**.example.org" is not a hostname or "*." and a hostname)",
                R"(zones[1].hosts[4]: "a b.example.org" is not a hostname or "*." and a hostname)",
                "zones[1].hosts[5]: must not be empty",
            }));
}

TEST_F(ConfigTest, TwoZonesMayNotClaimOneHost) {
  EXPECT_EQ(problems_of(minimal(R"(  - name: example.org
    id: 11111111111111111111111111111111
    account: main
    hosts: [example.org, WWW.example.com]
  - name: www.example.com
    id: 22222222222222222222222222222222
    account: main
)")),
            (std::vector<std::string>{
                R"(zones[2].hosts: default host "www.example.com" is already claimed by zones[1])",
            }));
}

TEST_F(ConfigTest, FindZoneByNameOrId) {
  const Config config = load_config_string(minimal(R"(  - name: example.org
    id: 11111111111111111111111111111111
    account: main
)"));
  ASSERT_NE(config.find_zone("example.org"), nullptr);
  EXPECT_EQ(config.find_zone("example.org")->id, kZoneB);
  ASSERT_NE(config.find_zone(kZoneA), nullptr);
  EXPECT_EQ(config.find_zone(kZoneA)->name, "example.com");
  EXPECT_EQ(config.find_zone("example.net"), nullptr);
  EXPECT_EQ(config.find_zone("Example.org"), nullptr);
}

TEST_F(ConfigTest, ListenMode) {
  for (const auto& [text, mode] : std::vector<std::pair<std::string, unsigned>>{{"\"0660\"", 0660},
                                                                                {"\"660\"", 0660},
                                                                                {"0660", 0660},
                                                                                {"0o600", 0600},
                                                                                {"0", 0},
                                                                                {"777", 0777}}) {
    EXPECT_EQ(load_config_string(minimal("listen:\n  mode: " + text + "\n")).listen.mode, mode)
        << text;
  }
  EXPECT_EQ(problems_of(minimal("listen:\n  mode: \"1777\"\n")),
            (std::vector<std::string>{R"(listen.mode: must be at most 0777, got "1777")"}));
  EXPECT_EQ(problems_of(minimal("listen:\n  mode: rw-rw----\n")),
            (std::vector<std::string>{
                R"(listen.mode: invalid mode "rw-rw----" (use octal digits like "0660"))"}));
}

TEST_F(ConfigTest, ListenSocketLength) {
  const std::string long_path = "/" + std::string(110, 's');
  EXPECT_EQ(problems_of(minimal("listen:\n  socket: " + long_path + "\n")),
            (std::vector<std::string>{
                "listen.socket: path is 111 bytes; a Unix socket path allows at most 107"}));
}

TEST_F(ConfigTest, ApiBase) {
  EXPECT_EQ(load_config_string(minimal("cloudflare:\n  api_base: https://x.test/v4//\n"))
                .cloudflare.api_base,
            "https://x.test/v4");
  EXPECT_EQ(
      problems_of(minimal("cloudflare:\n  api_base: api.cloudflare.com/client/v4\n")),
      (std::vector<std::string>{
          R"(cloudflare.api_base: must be an http:// or https:// URL, got "api.cloudflare.com/client/v4")"}));
  EXPECT_EQ(problems_of(minimal("cloudflare:\n  api_base: https://\n")),
            (std::vector<std::string>{R"(cloudflare.api_base: "https://" has no host)"}));
}

TEST_F(ConfigTest, ApiBaseIsValidatedAsAUrl) {
  const auto base_of = [](const std::string& base) {
    return load_config_string(minimal("cloudflare:\n  api_base: \"" + base + "\"\n"))
        .cloudflare.api_base;
  };
  EXPECT_EQ(base_of("http://127.0.0.1:8080/client/v4"), "http://127.0.0.1:8080/client/v4");
  EXPECT_EQ(base_of("http://[::1]:9/client/v4/"), "http://[::1]:9/client/v4");
  EXPECT_EQ(base_of("https://api.cloudflare.com"), "https://api.cloudflare.com");
  EXPECT_EQ(base_of("http://localhost:4010"), "http://localhost:4010");
  EXPECT_EQ(base_of("HTTPS://API.cloudflare.com/client/v4"),
            "HTTPS://API.cloudflare.com/client/v4");

  const std::vector<std::pair<std::string, std::string>> bad{
      {"http://:80/x", R"("http://:80/x" has no host)"},
      {"http:///x", R"("http:///x" has no host)"},
      {"http:/x", R"("http:/x" has no host)"},
      {"http://exa mple.com", R"("http://exa mple.com" contains whitespace or control characters)"},
      {"http://example.com/a\tb",
       R"("http://example.com/a\tb" contains whitespace or control characters)"},
      {"https://api.cloudflare.com/client/v4?x=1",
       R"("https://api.cloudflare.com/client/v4?x=1" must not have a query string)"},
      {"https://api.cloudflare.com/client/v4#top",
       R"("https://api.cloudflare.com/client/v4#top" must not have a fragment)"},
      {"https://user:pw@api.cloudflare.com/",
       R"("https://user:pw@api.cloudflare.com/" must not contain user info ("user@"); the token authenticates)"},
      {"http://exa_mple.com/", R"("http://exa_mple.com/" has an invalid host)"},
      {"http://ex%41mple.com/", R"("http://ex%41mple.com/" has an invalid host)"},
      {"http://a..b/", R"("http://a..b/" has an invalid host)"},
      {"http://[v1.x]/", R"("http://[v1.x]/" has an invalid host)"},
      {"http://example.com:99999/", R"("http://example.com:99999/" has an invalid port)"},
      {"http://example.com:0/", R"("http://example.com:0/" has an invalid port)"},
      {"http://example.com:/", R"("http://example.com:/" has an invalid port)"},
      {"ftp://example.com/", R"(must be an http:// or https:// URL, got "ftp://example.com/")"},
      {"http//example.com", R"(must be an http:// or https:// URL, got "http//example.com")"},
      {"http://exa[mple.com/", R"(must be an http:// or https:// URL, got "http://exa[mple.com/")"},
  };
  for (const auto& [base, problem] : bad) {
    EXPECT_EQ(problems_of(minimal("cloudflare:\n  api_base: \"" + base + "\"\n")),
              (std::vector<std::string>{"cloudflare.api_base: " + problem}))
        << base;
  }
}

TEST_F(ConfigTest, AccessRuleProblems) {
  EXPECT_EQ(
      problems_of(minimal(R"(access:
  - name: cms
    zones: [example.com, exmple.com]
    kinds: [url, tags, everythin]
    users: [www-data]
  - zones: [example.com]
  - users: []
    groups: []
)")),
      (std::vector<std::string>{
          R"(access[0].zones[1]: unknown zone "exmple.com")",
          R"(access[0].kinds[0]: unknown kind "url" (use file, tag, host, prefix or everything))",
          R"(access[0].kinds[2]: unknown kind "everythin" (did you mean "everything"?))",
          "access[1]: needs users or groups (who the rule allows)",
          "access[2]: needs users or groups (who the rule allows)",
      }));
}

TEST_F(ConfigTest, TcpListenerAndApiClients) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  const auto config = load_config_string(minimal(R"(tcp:
  listen: "8787"
api_clients:
  - name: cms
    token_env: PURGEQ_TEST_CLIENT
    zones: [example.com]
    kinds: [file, tag]
)"));
  EXPECT_TRUE(config.tcp.enabled);
  EXPECT_EQ(config.tcp.address, "127.0.0.1") << "loopback unless an address is given";
  EXPECT_EQ(config.tcp.port, 8787);
  ASSERT_EQ(config.api_clients.size(), 1U);
  EXPECT_EQ(config.api_clients[0].name, "cms");
  EXPECT_EQ(config.api_clients[0].token, "client-secret-0123456789abcdef");
  EXPECT_EQ(config.api_clients[0].token_source, "token_env PURGEQ_TEST_CLIENT");
  EXPECT_EQ(config.api_clients[0].zones, std::vector<std::string>{"example.com"});
  EXPECT_EQ(config.api_clients[0].kinds, (std::vector<Kind>{Kind::file, Kind::tag}));
  const auto v6 = load_config_string(minimal(R"(tcp: {listen: "[::1]:9000"}
api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT}]
)"));
  EXPECT_EQ(v6.tcp.address, "::1");
  EXPECT_EQ(v6.tcp.port, 9000);
  EXPECT_FALSE(load_config_string(minimal()).tcp.enabled) << "off by default";
}

TEST_F(ConfigTest, TcpListenerAndApiClientProblems) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  EXPECT_EQ(
      problems_of(minimal(R"(tcp: {listen: "localhost:80"}
api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT}]
)")),
      (std::vector<std::string>{
          R"(tcp.listen: "localhost:80": "localhost" is not an IP address (names are not resolved here))"}));
  EXPECT_EQ(
      problems_of(minimal(R"(tcp: {listen: "127.0.0.1:0"}
api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT}]
)")),
      (std::vector<std::string>{
          R"(tcp.listen: "127.0.0.1:0": expected a port (1-65535), optionally after an IP address, as "127.0.0.1:8787")"}));
  EXPECT_EQ(problems_of(minimal(R"(tcp: {listen: "::1:80"}
api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT}]
)")),
            (std::vector<std::string>{
                R"(tcp.listen: "::1:80": write an IPv6 address in brackets, as "[::1]:8787")"}));
  EXPECT_EQ(problems_of(minimal("tcp: {listen: \"8787\"}\n")),
            (std::vector<std::string>{
                "tcp: tcp.listen is set but api_clients is empty: nobody could use it"}));
  EXPECT_EQ(problems_of(minimal("api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT}]\n")),
            (std::vector<std::string>{"api_clients: api_clients are configured but tcp.listen is "
                                      "not: they could not connect"}));
  EXPECT_EQ(
      problems_of(minimal(R"(tcp: {listen: "8787"}
api_clients:
  - name: a
    token_env: PURGEQ_TEST_CLIENT
    zones: [exmple.com]
    kinds: [url]
  - token_env: PURGEQ_TEST_CLIENT
  - name: c
)")),
      (std::vector<std::string>{
          R"(api_clients[0].zones[0]: unknown zone "exmple.com")",
          R"(api_clients[0].kinds[0]: unknown kind "url" (use file, tag, host, prefix or everything))",
          "api_clients[1]: needs a name (it names the client in logs and refusals)",
          R"(api_clients[1]: has the same token as client "a": each client needs its own, or refusals and logs would name the wrong one)",
          "api_clients[2]: no token (set token_file, token_env or token_credential)",
      }));
  ScopedEnv short_token{"PURGEQ_TEST_SHORT", "guessable"};
  EXPECT_EQ(problems_of(minimal(R"(tcp: {listen: "8787", max_connections: 100000}
api_clients:
  - name: a
    token_env: PURGEQ_TEST_SHORT
    zones: []
    kinds: []
)")),
            (std::vector<std::string>{
                "tcp.max_connections: must be between 1 and 16384, got 100000",
                "api_clients[0]: the token from token_env PURGEQ_TEST_SHORT has 9 characters; a "
                "client token needs at least 24 (e.g. openssl rand -hex 20)",
                "api_clients[0].zones: is empty; omit zones to allow every one, or list some",
                "api_clients[0].kinds: is empty; omit kinds to allow every one, or list some",
            }));
}

// --- --check-config ---

// One account with the given token lines and one zone that is not a placeholder.
std::string deployed(const std::string& token_lines, bool dry_run = false) {
  return std::string("dry_run: ") + (dry_run ? "true" : "false") + R"(
accounts:
  - name: main
    plan: pro
)" + token_lines +
         R"(zones: [{name: shop.example.net.au, id: 9f3a1c0d5e7b4a2f8c6d1e0b3a5f7c9d, account: main}]
)";
}

TEST(ConfigCheck, SecretsOnlyTheRuntimeHasAreNotes) {
  ScopedEnv credentials("CREDENTIALS_DIRECTORY", nullptr);
  ScopedEnv env("PURGEQ_TEST_TOKEN", nullptr);
  const auto credential = check_config_string(deployed("    token_credential: cloudflare\n"));
  EXPECT_EQ(credential.problems, std::vector<std::string>{});
  EXPECT_EQ(credential.notes,
            std::vector<std::string>{"accounts[0].token_credential: resolved at start from systemd "
                                     "credential \"cloudflare\" (CREDENTIALS_DIRECTORY is not set "
                                     "here)"});
  ASSERT_TRUE(credential.config);
  EXPECT_EQ(credential.config->accounts[0].token, "");
  EXPECT_EQ(credential.config->accounts[0].token_source, "token_credential cloudflare");

  const auto from_env = check_config_string(deployed("    token_env: PURGEQ_TEST_TOKEN\n"));
  EXPECT_EQ(from_env.problems, std::vector<std::string>{});
  EXPECT_EQ(from_env.notes, std::vector<std::string>{"accounts[0].token_env: resolved at start "
                                                     "from environment variable PURGEQ_TEST_TOKEN "
                                                     "(not set here)"});
  // Starting is another matter: there the secret must be there.
  EXPECT_THROW((void)load_config_string(deployed("    token_env: PURGEQ_TEST_TOKEN\n")),
               ConfigError);
}

TEST(ConfigCheck, SecretsThatAreHereAreCheckedAsAtStart) {
  TempDir dir;
  const std::string missing = dir.path() + "/nope";
  EXPECT_EQ(check_config_string(deployed("    token_file: " + missing + "\n")).problems,
            (std::vector<std::string>{"accounts[0].token_file: cannot read \"" + missing +
                                      "\": No such file or directory"}));
  const std::string file = dir.write("token", "tok3n\n");
  const auto ok = check_config_string(deployed("    token_file: " + file + "\n"));
  EXPECT_EQ(ok.problems, std::vector<std::string>{});
  EXPECT_EQ(ok.notes, std::vector<std::string>{});
  ASSERT_TRUE(ok.config);
  EXPECT_EQ(ok.config->accounts[0].token, "tok3n");
  {
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", dir.path().c_str());
    EXPECT_EQ(check_config_string(deployed("    token_credential: other\n")).problems,
              (std::vector<std::string>{"accounts[0].token_credential: cannot read \"" +
                                        dir.path() + "/other\": No such file or directory"}));
  }
  {
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", nullptr);
    // A path is a mistake in the file wherever the check runs.
    EXPECT_EQ(check_config_string(deployed("    token_credential: ../token\n")).problems,
              (std::vector<std::string>{
                  "accounts[0].token_credential: \"../token\" is a path; give the credential's "
                  "name (LoadCredential=NAME:...)"}));
  }
  {
    ScopedEnv env("PURGEQ_TEST_TOKEN", " ");
    EXPECT_EQ(check_config_string(deployed("    token_env: PURGEQ_TEST_TOKEN\n")).problems,
              (std::vector<std::string>{
                  "accounts[0].token_env: environment variable PURGEQ_TEST_TOKEN is empty"}));
  }
  EXPECT_EQ(check_config_string(deployed("")).problems,
            (std::vector<std::string>{
                "accounts[0]: no token (set token_file, token_env or token_credential)"}));
}

TEST(ConfigCheck, PlaceholdersSayWhatToFillInUnlessDryRun) {
  ScopedEnv env("PURGEQ_TEST_TOKEN", "secret-token");
  const std::string placeholders = R"(
accounts: [{name: main, plan: pro, token_env: PURGEQ_TEST_TOKEN}]
zones:
  - {name: Example.COM, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}
  - {name: example.org, id: 11111111111111111111111111111111, account: main}
)";
  const auto check = check_config_string(placeholders);
  EXPECT_EQ(check.problems,
            (std::vector<std::string>{
                "zones[0].name: \"example.com\" is a placeholder: fill in your zone's name, as "
                "the Cloudflare dashboard lists it",
                "zones[0].id: 023e105f4ecef8ad9ca31a8372d0c353 is the sample zone id: fill in "
                "your zone's id (32 hex characters: dashboard, the zone's Overview page, API "
                "section, Zone ID), or leave `id` out to look it up by name",
                "zones[1].name: \"example.org\" is a placeholder: fill in your zone's name, as "
                "the Cloudflare dashboard lists it",
            }));
  EXPECT_FALSE(check.config);
  // Nothing is sent in a dry run, and starting never looked at placeholders.
  EXPECT_EQ(check_config_string("dry_run: true\n" + placeholders).problems,
            std::vector<std::string>{});
  EXPECT_NO_THROW((void)load_config_string(placeholders));
  // Only the whole name is a placeholder.
  EXPECT_EQ(check_config_string(R"(
accounts: [{name: main, plan: pro, token_env: PURGEQ_TEST_TOKEN}]
zones: [{name: example.com.au, id: 11111111111111111111111111111111, account: main}]
)")
                .problems,
            std::vector<std::string>{});
}

TEST(ConfigCheck, FileProblemsAreReportedNotThrown) {
  TempDir dir;
  const std::string missing = dir.path() + "/missing.yaml";
  const auto check = check_config_file(missing);
  EXPECT_EQ(check.problems,
            (std::vector<std::string>{missing + ": cannot read: No such file or directory"}));
  EXPECT_FALSE(check.config);
  const std::string broken = dir.write("broken.yaml", "zones: [\n");
  ASSERT_EQ(check_config_file(broken).problems.size(), 1u);
}

// The configs the repository ships: the packaged one must be filled in, the dev one runs as is.
TEST(ConfigCheck, ShippedConfigs) {
  ScopedEnv credentials("CREDENTIALS_DIRECTORY", nullptr);
  ScopedEnv env("CLOUDFLARE_API_TOKEN", nullptr);
  const std::string root = std::string(PURGEQ_TEST_DATA_DIR) + "/../../../";
  const auto packaged = check_config_file(root + "config/purgeq.yaml");
  // Names only (docs/configuration.md, "Zones by name"): the id and plan are looked up at start.
  ASSERT_EQ(packaged.problems.size(), 1u);
  EXPECT_EQ(packaged.problems[0].rfind("zones[0].name: \"example.com\" is a placeholder", 0), 0u);
  EXPECT_EQ(packaged.notes,
            (std::vector<std::string>{
                "accounts[0].plan: not set; follows the plan Cloudflare reports for the "
                "account's zones (purgeqd --check-config --online shows it)",
                "accounts[0].token_credential: resolved at start from systemd credential "
                "\"cloudflare-token\" (CREDENTIALS_DIRECTORY is not set here)",
                "zones[0].id: not set; \"example.com\" is looked up by name with its account's "
                "token at start (purgeqd --check-config --online looks it up now)"}));
  const auto dev = check_config_file(root + "config/purgeq.dev.yaml");
  EXPECT_EQ(dev.problems, std::vector<std::string>{});
  ASSERT_TRUE(dev.config);
  EXPECT_TRUE(dev.config->dry_run);
}

TEST_F(ConfigTest, PriorityLanesDefaultsAndKeys) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  ScopedEnv other_token{"PURGEQ_TEST_OTHER", "other-secret-0123456789abcdef0"};
  const auto defaults = load_config_string(minimal());
  EXPECT_EQ(defaults.batching.lane_share_every, 10);
  const auto config = load_config_string(minimal(R"(batching:
  lane_share_every: 4
access:
  - name: deployers
    groups: [deploy]
    priority: high
  - name: crawlers
    users: [crawler]
    kinds: [file]
    priority: bulk
  - name: plain
    users: [cms]
    kinds: [tag]
tcp:
  listen: "8787"
api_clients:
  - name: cms
    token_env: PURGEQ_TEST_CLIENT
    priority: bulk
  - name: other
    token_env: PURGEQ_TEST_OTHER
)"));
  EXPECT_EQ(config.batching.lane_share_every, 4);
  ASSERT_EQ(config.access.size(), 3U);
  EXPECT_EQ(config.access[0].priority, Lane::high);
  EXPECT_EQ(config.access[1].priority, Lane::bulk);
  EXPECT_EQ(config.access[2].priority, std::nullopt) << "no default of its own";
  ASSERT_EQ(config.api_clients.size(), 2U);
  EXPECT_EQ(config.api_clients[0].priority, Lane::bulk);
  EXPECT_EQ(config.api_clients[1].priority, Lane::normal) << "the default lane";
}

TEST_F(ConfigTest, BadPriorityAndShareAreNamed) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  EXPECT_EQ(problems_of(minimal("access: [{users: [a], priority: urgent}]\n")),
            (std::vector<std::string>{
                R"(access[0].priority: unknown priority "urgent" (use high, normal or bulk))"}));
  EXPECT_EQ(problems_of(minimal("access: [{users: [a], priority: hihg}]\n")),
            (std::vector<std::string>{
                R"(access[0].priority: unknown priority "hihg" (did you mean "high"?))"}));
  EXPECT_EQ(problems_of(minimal(R"(tcp: {listen: "8787"}
api_clients: [{name: a, token_env: PURGEQ_TEST_CLIENT, priority: [high]}]
)"))
                .size(),
            1U);
  EXPECT_EQ(
      problems_of(minimal("batching: {lane_share_every: 1}\n")),
      (std::vector<std::string>{"batching.lane_share_every: must be between 2 and 1000, got 1"}));
  EXPECT_EQ(problems_of(minimal("batching: {lane_share_every: 5000}\n")),
            (std::vector<std::string>{
                "batching.lane_share_every: must be between 2 and 1000, got 5000"}));
}

TEST_F(ConfigTest, MetricsPortAndClientScopes) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  ScopedEnv metrics_token{"PURGEQ_TEST_METRICS", "metrics-secret-0123456789abcdef"};
  const auto off = load_config_string(minimal());
  EXPECT_FALSE(off.metrics.enabled) << "off by default";
  EXPECT_TRUE(off.metrics.token.empty());
  const auto config = load_config_string(minimal(R"(metrics:
  listen: "9477"
  token_env: PURGEQ_TEST_METRICS
tcp: {listen: "8787"}
api_clients:
  - {name: cms, token_env: PURGEQ_TEST_CLIENT}
)"));
  EXPECT_TRUE(config.metrics.enabled);
  EXPECT_EQ(config.metrics.address, "127.0.0.1") << "loopback unless an address is given";
  EXPECT_EQ(config.metrics.port, 9477);
  EXPECT_EQ(config.metrics.token, "metrics-secret-0123456789abcdef");
  EXPECT_EQ(config.metrics.token_source, "token_env PURGEQ_TEST_METRICS");
  ASSERT_EQ(config.api_clients.size(), 1U);
  EXPECT_TRUE(config.api_clients[0].scopes.purge) << "purge only unless scopes say otherwise";
  EXPECT_FALSE(config.api_clients[0].scopes.status);
  const auto viewer = load_config_string(minimal(R"(metrics: {listen: "0.0.0.0:9100"}
tcp: {listen: "8787"}
api_clients:
  - {name: ops, token_env: PURGEQ_TEST_CLIENT, scopes: [status]}
)"));
  EXPECT_EQ(viewer.metrics.address, "0.0.0.0");
  EXPECT_EQ(viewer.metrics.port, 9100);
  EXPECT_FALSE(viewer.api_clients[0].scopes.purge);
  EXPECT_TRUE(viewer.api_clients[0].scopes.status);
}

TEST_F(ConfigTest, MetricsPortAndClientScopeProblems) {
  ScopedEnv client_token{"PURGEQ_TEST_CLIENT", "client-secret-0123456789abcdef"};
  ScopedEnv short_token{"PURGEQ_TEST_SHORT", "guessable"};
  EXPECT_EQ(
      problems_of(minimal(R"(metrics: {listen: "localhost:9477"}
)")),
      (std::vector<std::string>{
          R"(metrics.listen: "localhost:9477": "localhost" is not an IP address (names are not resolved here))"}));
  EXPECT_EQ(problems_of(minimal(R"(metrics: {token_env: PURGEQ_TEST_CLIENT}
)")),
            (std::vector<std::string>{
                "metrics: a metrics token is set but metrics.listen is not: nobody could use it"}));
  EXPECT_EQ(problems_of(minimal(R"(metrics: {listen: "9477", token_env: PURGEQ_TEST_SHORT}
)")),
            (std::vector<std::string>{
                "metrics: the token from token_env PURGEQ_TEST_SHORT has 9 characters; a metrics "
                "token needs at least 24 (e.g. openssl rand -hex 20)"}));
  EXPECT_EQ(
      problems_of(minimal(R"(metrics: {listen: "9477", port: 1}
)")),
      (std::vector<std::string>{
          R"(metrics.port: unknown key (valid keys: listen, token_file, token_env, token_credential))"}));
  EXPECT_EQ(problems_of(minimal(R"(tcp: {listen: "8787"}
api_clients:
  - {name: a, token_env: PURGEQ_TEST_CLIENT, scopes: [status, admin]}
  - {name: b, token_env: PURGEQ_TEST_SHORT, scopes: []}
)")),
            (std::vector<std::string>{
                R"(api_clients[0].scopes[1]: unknown scope "admin" (use purge or status))",
                "api_clients[1]: the token from token_env PURGEQ_TEST_SHORT has 9 characters; a "
                "client token needs at least 24 (e.g. openssl rand -hex 20)",
                "api_clients[1].scopes: is empty; omit scopes for purge only, or list purge, "
                "status or both"}));
}

}  // namespace
}  // namespace purgeq
