// Answer classification (data-driven) and request bodies.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "dispatch/request_body.h"
#include "dispatch/verdict.h"
#include "support/tsv.h"

namespace purgeq {
namespace {

TEST(Verdict, TableOfAnswers) {
  int rows = 0;
  for (const auto& row : test::read_tsv("verdicts.tsv")) {
    const auto& f = row.fields;
    ASSERT_EQ(f.size(), 5U) << row.where;
    HttpResponse response;
    response.status = std::stol(f[0]);
    response.transport_error = f[1];
    response.body = f[2];
    const auto got = classify(response);
    EXPECT_EQ(to_string(got.verdict), f[3]) << row.where;
    EXPECT_EQ(got.code, std::stoi(f[4])) << row.where;
    EXPECT_FALSE(got.message.empty()) << row.where;
    ++rows;
  }
  EXPECT_GE(rows, 20);
}

TEST(Verdict, KeepsRetryAfterAndMessage) {
  HttpResponse response;
  response.status = 429;
  response.retry_after = std::chrono::seconds(7);
  response.body = R"({"success":false,"errors":[{"code":1134,"message":"slow down"}]})";
  const auto got = classify(response);
  EXPECT_EQ(got.verdict, Verdict::rate_limited);
  ASSERT_TRUE(got.retry_after);
  EXPECT_EQ(got.retry_after->count(), 7);
  EXPECT_EQ(got.message, "slow down");
}

TEST(RequestBody, OneKeyPerKind) {
  const Item a{Kind::tag, "a", {}};
  const Item b{Kind::tag, "B", {}};
  const std::vector<const Item*> tags{&a, &b};
  EXPECT_EQ(build_request_body(Kind::tag, tags), R"({"tags":["a","B"]})");
  const Item host{Kind::host, "www.example.com", {}};
  EXPECT_EQ(build_request_body(Kind::host, std::vector<const Item*>{&host}),
            R"({"hosts":["www.example.com"]})");
  const Item prefix{Kind::prefix, "www.example.com/blog", {}};
  EXPECT_EQ(build_request_body(Kind::prefix, std::vector<const Item*>{&prefix}),
            R"({"prefixes":["www.example.com/blog"]})");
  EXPECT_EQ(build_request_body(Kind::everything, {}), R"({"purge_everything":true})");
}

TEST(RequestBody, FilesWithHeadersBecomeObjects) {
  const Item plain{Kind::file, "https://a.example/x", {}};
  const Item keyed{Kind::file, "https://a.example/y", {{"CF-Device-Type", "mobile"}}};
  const auto body =
      boost::json::parse(build_request_body(Kind::file, std::vector<const Item*>{&plain, &keyed}));
  const auto& files = body.at("files").as_array();
  ASSERT_EQ(files.size(), 2U);
  EXPECT_EQ(files[0].as_string(), "https://a.example/x");
  EXPECT_EQ(files[1].at("url").as_string(), "https://a.example/y");
  EXPECT_EQ(files[1].at("headers").at("CF-Device-Type").as_string(), "mobile");
}

}  // namespace
}  // namespace purgeq
