// Tests for `purgeq url --variants`: its arguments and how the expansion (POST /v1/expand) and a
// receipt with cache-key variants read.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "cli/cli_output.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "purgeq");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::istringstream in;
  ParseContext context;
  context.stdin_stream = &in;
  return parse_args(static_cast<int>(argv.size()), argv.data(), context);
}

TEST(CliVariants, FlagBeforeOrAfterTheCommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"url", "--variants", "https://shop.test/"},
           {"--variants", "url", "https://shop.test/"},
           {"url", "https://shop.test/", "--variants", "-H", "CF-IPCountry: US"}}) {
    const auto result = parse(args);
    ASSERT_TRUE(result.request) << result.err;
    EXPECT_TRUE(result.request->variants);
  }
  const auto plain = parse({"url", "https://shop.test/"});
  ASSERT_TRUE(plain.request);
  EXPECT_FALSE(plain.request->variants);
}

TEST(CliVariants, OnlyForUrlAndNeverWithWait) {
  auto result = parse({"--zone", "shop.test", "--variants", "tag", "x"});
  EXPECT_FALSE(result.request);
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_NE(result.err.find("--variants applies only to url"), std::string::npos) << result.err;
  result = parse({"--wait", "url", "--variants", "https://shop.test/"});
  EXPECT_FALSE(result.request);
  EXPECT_NE(result.err.find("nothing to --wait for"), std::string::npos) << result.err;
}

TEST(CliVariants, HelpMentionsIt) {
  const auto help = parse({"url", "--help"});
  EXPECT_NE(help.out.find("--variants"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("zones[].variants"), std::string::npos) << help.out;
}

TEST(CliVariants, FormatsOneBlockPerUrl) {
  const auto answer = json::parse(R"({"count": 5, "variants": {"urls": 1, "items": 3}, "items": [
    {"zone": "shop.test", "kind": "file", "value": "https://shop.test/",
     "headers": {"CF-Device-Type": "mobile"}},
    {"zone": "shop.test", "kind": "file", "value": "https://shop.test/",
     "headers": {"Accept-Language": "de", "CF-Device-Type": "tablet"}},
    {"zone": "shop.test", "kind": "file", "value": "https://shop.test/"},
    {"zone": "plain.test", "kind": "file", "value": "https://plain.test/"},
    {"zone": "plain.test", "kind": "file", "value": "https://plain.test/b",
     "headers": {"X-Tenant": "a"}}]})");
  EXPECT_EQ(format_variants(answer),
            "https://shop.test/ (zone shop.test): 3 variants\n"
            "  CF-Device-Type: mobile\n"
            "  Accept-Language: de, CF-Device-Type: tablet\n"
            "  (no headers)\n"
            "https://plain.test/ (zone plain.test): no cache-key variants\n"
            "https://plain.test/b (zone plain.test): 1 variant\n"
            "  X-Tenant: a\n"
            "5 items to purge; nothing was queued\n");
}

TEST(CliVariants, ReceiptSaysHowUrlsExpanded) {
  EXPECT_EQ(
      format_accepted(json::parse(
          R"({"id": "abc", "status": "queued", "items": 3, "variants": {"urls": 1, "items": 3}})")),
      "queued 3 items as intent abc (1 URL expanded to 3 cache-key variants)\n");
  EXPECT_EQ(format_accepted(json::parse(R"({"id": "abc", "status": "queued", "items": 1})")),
            "queued 1 item as intent abc\n");
}

}  // namespace
}  // namespace purgeq::cli
