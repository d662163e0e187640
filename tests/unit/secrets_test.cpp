// take_token_env(): a token_env token leaves purgeqd's environment once read at start (wiped in
// place, then unset), and a reload still resolves it from the kept copy.
#include "config/secrets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "config/config.h"

namespace purgeq {
namespace {

std::string config_text(const std::string& variable) {
  return R"(dry_run: false
accounts:
  - name: main
    plan: pro
    token_env: )" +
         variable + R"(
zones: [{name: shop.example, id: 023e105f4ecef8ad9ca31a8372d0c353, account: main}]
)";
}

TEST(SecretsTest, ATokenEnvTokenIsWipedUnsetAndKeptForAReload) {
  // A variable of its own: other tests set and unset theirs, and read them afresh each time.
  constexpr const char* kName = "PURGEQ_SECRETS_TEST_TOKEN";
  ::setenv(kName, "env-secret-1234", 1);
  char* value = std::getenv(kName);
  ASSERT_NE(value, nullptr);
  const std::size_t size = std::strlen(value);
  const Config config = load_config_string(config_text(kName));
  ASSERT_EQ(config.accounts[0].token, "env-secret-1234");

  take_token_env(config);
  EXPECT_EQ(std::getenv(kName), nullptr) << "still in the environment";
  // The bytes themselves are gone (what /proc/PID/environ would show for an inherited variable).
  // glibc never frees a setenv'd string, so looking at it again is safe.
  EXPECT_EQ(std::string(value, size), std::string(size, '\0'));

  // A reload reads the config again: the token comes from the kept copy.
  const Config reloaded = load_config_string(config_text(kName));
  EXPECT_EQ(reloaded.accounts[0].token, "env-secret-1234");
  // A variable set again (a test, a child's environment) wins over the copy.
  ::setenv(kName, "env-secret-5678", 1);
  EXPECT_EQ(load_config_string(config_text(kName)).accounts[0].token, "env-secret-5678");
  ::unsetenv(kName);
}

TEST(SecretsTest, OtherTokenSourcesAreLeftAlone) {
  constexpr const char* kName = "PURGEQ_SECRETS_TEST_UNRELATED";
  ::setenv(kName, "not-a-token-source", 1);
  Config config;
  config.accounts.push_back(Account{});
  config.accounts[0].token_source = std::string("token_file /etc/") + kName;
  take_token_env(config);
  EXPECT_STREQ(std::getenv(kName), "not-a-token-source");
  ::unsetenv(kName);
}

}  // namespace
}  // namespace purgeq
