// `purgeq dashboard`'s decisions: what a browser request with the secret, the wrong secret, a
// foreign Host or Origin, or a path the page does not use gets.
#include <gtest/gtest.h>

#include <set>

#include "cli/dashboard.h"

namespace purgeq::cli {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";
constexpr std::uint16_t kPort = 8099;
constexpr std::string_view kHost = "127.0.0.1:8099";

ProxyDecision get(std::string_view target, std::string_view host = kHost,
                  std::string_view origin = "") {
  return decide("GET", target, host, origin, kSecret, kPort);
}

TEST(DashboardProxy, ForwardsWhatThePageUsesUnderTheSecret) {
  const std::string base = "/" + std::string(kSecret);
  for (const auto& [target, forwarded] : std::vector<std::pair<std::string, std::string>>{
           {base + "/", "/"},
           {base + "/assets/status.js", "/assets/status.js"},
           {base + "/v1/status", "/v1/status"},
           {base + "/v1/status/history", "/v1/status/history"},
           {base + "/v1/failed", "/v1/failed"},
           {base + "/v1/intents/0190abc?wait=0", "/v1/intents/0190abc?wait=0"}}) {
    const auto d = get(target);
    EXPECT_EQ(d.action, ProxyDecision::Action::forward) << target;
    EXPECT_EQ(d.target, forwarded) << target;
  }
  const auto retry = decide("POST", base + "/v1/failed/retry", "localhost:8099",
                            "http://localhost:8099", kSecret, kPort);
  EXPECT_EQ(retry.action, ProxyDecision::Action::forward);
  EXPECT_EQ(retry.target, "/v1/failed/retry");
  const auto bare = get(base);
  EXPECT_EQ(bare.action, ProxyDecision::Action::redirect) << "relative links need the slash";
  EXPECT_EQ(bare.target, base + "/");
}

TEST(DashboardProxy, RefusesAWrongOrMissingSecret) {
  for (const std::string& target : std::vector<std::string>{
           "/", "/v1/status", "/0123456789abcdef0123456789abcdee/v1/status",
           "/0123456789abcdef0123456789abcde/", "/" + std::string(kSecret) + "0/", "x"}) {
    const auto d = get(target);
    EXPECT_EQ(d.action, ProxyDecision::Action::refuse) << target;
    EXPECT_EQ(d.status, 404U) << target;
    EXPECT_EQ(d.code, "not_found") << target;
  }
}

TEST(DashboardProxy, RefusesOtherHostsOriginsAndRoutes) {
  const std::string base = "/" + std::string(kSecret);
  const auto rebound = get(base + "/v1/status", "evil.example:8099");
  EXPECT_EQ(rebound.status, 403U) << "DNS rebinding: another name pointed at 127.0.0.1";
  EXPECT_EQ(
      rebound.message,
      R"(purgeq dashboard answers only at http://127.0.0.1:8099/ (this request named host "evil.example:8099"))");
  EXPECT_EQ(get(base + "/v1/status", "127.0.0.1:8098").status, 403U);
  const auto foreign =
      decide("POST", base + "/v1/failed/retry", kHost, "https://evil.example", kSecret, kPort);
  EXPECT_EQ(foreign.action, ProxyDecision::Action::refuse);
  EXPECT_EQ(foreign.status, 403U);
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/purge"},
                                                        {"POST", "/v1/expand"},
                                                        {"GET", "/metrics"},
                                                        {"GET", "/healthz"},
                                                        {"GET", "/assets/../secret"},
                                                        {"GET", "/v1/intents/a/b"},
                                                        {"DELETE", "/v1/status"},
                                                        {"GET", "/v1/failed/retry"}}) {
    const auto d = decide(method, base + path, kHost, "", kSecret, kPort);
    EXPECT_EQ(d.action, ProxyDecision::Action::refuse) << method << ' ' << path;
    EXPECT_EQ(d.status, 404U) << method << ' ' << path;
  }
}

TEST(DashboardProxy, SecretsAreFreshAndLongEnough) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const auto secret = make_secret();
    EXPECT_EQ(secret.size(), kSecretBytes * 2);
    EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos) << secret;
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 50U);
}

}  // namespace
}  // namespace purgeq::cli
