// The error table: names clients rely on, Cloudflare's codes, docs/api.md listing exactly the
// table, and the answers built from it in both dialects.
#include "http/error_code.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http/responses.h"

namespace purgeq {
namespace {

TEST(ErrorCodeTable, EveryCodeHasItsRowAndNamesReadBack) {
  const auto table = error_table();
  ASSERT_FALSE(table.empty());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const ErrorInfo& info = table[i];
    EXPECT_EQ(static_cast<std::size_t>(info.code), i);
    EXPECT_EQ(&error_info(info.code), &info);
    EXPECT_FALSE(info.name.empty());
    EXPECT_GE(info.http_status, 400) << info.name;
    EXPECT_LT(info.http_status, 600) << info.name;
    // A name reads back to a code with the same name (the first of a shared name).
    const auto named = error_code_named(info.name);
    ASSERT_TRUE(named) << info.name;
    EXPECT_EQ(error_name(*named), info.name);
  }
  EXPECT_FALSE(error_code_named("no_such_code"));
  std::ostringstream printed;
  printed << ErrorCode::url_has_fragment;
  EXPECT_EQ(printed.str(), "url_has_fragment");
}

TEST(ErrorCodeTable, SharedNamesDifferOnlyInTheirAnswer) {
  EXPECT_EQ(error_name(ErrorCode::unknown_path_zone), "unknown_zone");
  EXPECT_EQ(error_info(ErrorCode::unknown_zone).http_status, 400);
  EXPECT_EQ(error_info(ErrorCode::unknown_path_zone).http_status, 404);
  EXPECT_EQ(error_info(ErrorCode::unknown_path_zone).cloudflare_code, 7003);
  std::set<std::string_view> names;
  std::size_t shared = 0;
  for (const auto& info : error_table()) shared += names.insert(info.name).second ? 0 : 1;
  EXPECT_EQ(shared, 1U) << "only unknown_zone has two rows";
}

TEST(ErrorCodeTable, CloudflaresOwnCodesForTheRulesItShares) {
  // What Cloudflare answers for the same refusal (shared/reference/cloudflare-purge-api.md), so a
  // client written for Cloudflare recognises it.
  EXPECT_EQ(error_info(ErrorCode::not_an_array).cloudflare_code, 1014);
  EXPECT_EQ(error_info(ErrorCode::invalid_purge_everything).cloudflare_code, 1013);
  EXPECT_EQ(error_info(ErrorCode::purge_everything_not_alone).cloudflare_code, 1092);
  EXPECT_EQ(error_info(ErrorCode::host_not_in_zone).cloudflare_code, 1082);
  EXPECT_EQ(error_info(ErrorCode::tag_too_long).cloudflare_code, 1100);
  EXPECT_EQ(error_info(ErrorCode::host_too_long).cloudflare_code, 1114);
  EXPECT_EQ(error_info(ErrorCode::invalid_host).cloudflare_code, 1115);
  for (const auto code :
       {ErrorCode::invalid_url, ErrorCode::url_has_fragment, ErrorCode::url_too_long}) {
    EXPECT_EQ(error_info(code).cloudflare_code, 1015) << code;
  }
  EXPECT_EQ(error_info(ErrorCode::access_denied).cloudflare_code, 10000);
  EXPECT_EQ(error_info(ErrorCode::everything_too_soon).cloudflare_code, 10429);
  EXPECT_EQ(error_info(ErrorCode::missing_token).cloudflare_code, 9106);
  EXPECT_EQ(error_info(ErrorCode::bad_token).http_status, 401);
  EXPECT_EQ(error_info(ErrorCode::invalid_tag).cloudflare_code, 1012) << "no code of its own";
  for (const auto& info : error_table()) {
    if (info.http_status == 503) {
      EXPECT_EQ(info.cloudflare_code, 10503) << info.name;
      EXPECT_GT(info.retry_after_s, 0) << info.name << ": a 503 says when to come back";
    }
  }
}

// The rows of the table between <!-- error-codes --> markers in docs/api.md.
struct DocRow {
  std::string name;
  int status = 0;
  int cloudflare = 0;
  std::string retry_after;
  std::string meaning;
};

std::vector<DocRow> documented_codes() {
  std::ifstream in(PURGEQ_TEST_DATA_DIR "/../../../docs/api.md");
  EXPECT_TRUE(in) << "docs/api.md not found";
  std::vector<DocRow> rows;
  std::string line;
  bool inside = false;
  // | `name` | 400 | 1012 | 30 | meaning |
  const std::regex row(R"(^\| `([a-z_]+)` \| (\d{3}) \| (\d+) \| ([^|]*) \| (.+) \|$)");
  while (std::getline(in, line)) {
    if (line == "<!-- error-codes -->") inside = true;
    if (line == "<!-- /error-codes -->") break;
    std::smatch m;
    if (!inside || !std::regex_match(line, m, row)) continue;
    rows.push_back({m[1], std::stoi(m[2]), std::stoi(m[3]), m[4], m[5]});
  }
  return rows;
}

TEST(ErrorCodeTable, DocsListEveryCodeAsTheTableHasIt) {
  const auto rows = documented_codes();
  const auto table = error_table();
  ASSERT_EQ(rows.size(), table.size())
      << "docs/api.md, \"Error codes\": one row per code, in the order of http/error_code.cpp";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ErrorInfo& info = table[i];
    const DocRow& row = rows[i];
    EXPECT_EQ(row.name, info.name) << "row " << i + 1;
    EXPECT_EQ(row.status, info.http_status) << info.name;
    EXPECT_EQ(row.cloudflare, info.cloudflare_code) << info.name;
    const std::string retry = info.code == ErrorCode::everything_too_soon ? "computed"
                              : info.retry_after_s > 0 ? std::to_string(info.retry_after_s)
                                                       : "";
    EXPECT_EQ(row.retry_after, retry) << info.name;
    EXPECT_GT(row.meaning.size(), 10U) << info.name << " needs its meaning";
  }
}

HttpRequestMessage request_of(unsigned version, bool keep_alive) {
  HttpRequestMessage request{boost::beast::http::verb::post, "/v1/purge", version};
  request.keep_alive(keep_alive);
  return request;
}

TEST(ErrorAnswers, NativeErrorsCarryNameMessageItemAndTheTablesStatus) {
  const auto answer =
      error_response(request_of(11, true), ErrorDialect::native,
                     ErrorAnswer{ErrorCode::invalid_url, "files[0]: not a URL", "ftp://x"});
  EXPECT_EQ(answer.result_int(), 400U);
  EXPECT_TRUE(answer.keep_alive());
  EXPECT_EQ(answer[boost::beast::http::field::content_type], "application/json");
  EXPECT_TRUE(answer[boost::beast::http::field::retry_after].empty());
  EXPECT_EQ(boost::json::parse(answer.body()),
            boost::json::parse(R"({"error":{"code":"invalid_url","message":"files[0]: not a URL",
                                   "item":"ftp://x"}})"));
  const auto no_item = error_response(request_of(10, false), ErrorDialect::native,
                                      ErrorAnswer{ErrorCode::queue_full, "full"});
  EXPECT_EQ(no_item.result_int(), 503U);
  EXPECT_EQ(no_item.version(), 10U);
  EXPECT_FALSE(no_item.keep_alive());
  EXPECT_EQ(no_item[boost::beast::http::field::retry_after], "30");
  EXPECT_FALSE(boost::json::parse(no_item.body()).at("error").as_object().contains("item"));
}

TEST(ErrorAnswers, CloudflareErrorsComeInItsEnvelopeWithItsCode) {
  const auto answer =
      error_response(request_of(11, true), ErrorDialect::cloudflare,
                     ErrorAnswer{ErrorCode::everything_too_soon, "too soon", "", 42});
  EXPECT_EQ(answer.result_int(), 429U);
  EXPECT_EQ(answer[boost::beast::http::field::retry_after], "42");
  EXPECT_EQ(boost::json::parse(answer.body()),
            boost::json::parse(R"({"success":false,"errors":[{"code":10429,"message":"too soon"}],
                                   "messages":[],"result":null})"));
  // Without a request (a refused connection): HTTP/1.1 and the connection closes.
  const auto refused =
      error_response(ErrorDialect::cloudflare, ErrorAnswer{ErrorCode::too_many_connections, "x"});
  EXPECT_EQ(refused.result_int(), 503U);
  EXPECT_EQ(refused.version(), 11U);
  EXPECT_FALSE(refused.keep_alive());
  EXPECT_EQ(refused[boost::beast::http::field::retry_after], "5");
}

TEST(ErrorAnswers, AnAcceptedCloudflarePurgeNamesTheIntent) {
  const auto answer = cloudflare_accepted(request_of(11, true), "0190abc");
  EXPECT_EQ(answer.result_int(), 200U);
  EXPECT_EQ(boost::json::parse(answer.body()),
            boost::json::parse(R"({"success":true,"errors":[],"messages":[],
                                   "result":{"id":"0190abc"}})"));
}

}  // namespace
}  // namespace purgeq
