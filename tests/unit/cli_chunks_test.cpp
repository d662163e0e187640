// Tests for cutting a submit command's items into intents under purgeqd's limits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/intent_chunks.h"
#include "cli/item_stream.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

CliRequest url_request(std::istream& in) {
  CliRequest request;
  request.command = Command::url;
  request.stdin_items = &in;
  return request;
}

std::string lines(int count, std::string_view prefix = "https://www.example.com/p/") {
  std::string out;
  for (int i = 1; i <= count; ++i) out += fmt::format("{}{}\n", prefix, i);
  return out;
}

// Every chunk's body, parsed, until the items run out.
std::vector<json::value> all_bodies(IntentChunker& chunker) {
  std::vector<json::value> bodies;
  while (auto chunk = chunker.next()) {
    const auto text = chunker.body().text(chunk->item_jsons);
    EXPECT_EQ(text.size(), chunker.body().size(chunk->item_jsons.size(), chunk->item_bytes));
    EXPECT_LE(text.size(), chunker.caps().max_body_bytes);
    bodies.push_back(json::parse(text));
  }
  return bodies;
}

TEST(CliChunks, BodyTextIsTheJsonTheDaemonReads) {
  CliRequest request;
  request.command = Command::url;
  request.zone = "example.com";
  request.priority = "bulk";
  request.headers = {{"CF-Device-Type", "mobile"}};
  const PurgeBody body(request);
  const std::vector<std::string> items{body.item_json("https://a/\"q\""),
                                       body.item_json("https://a/2")};
  const auto text = body.text(items);
  EXPECT_EQ(json::parse(text), json::parse(R"({"zone":"example.com","priority":"bulk","files":[
      {"url":"https://a/\"q\"","headers":{"CF-Device-Type":"mobile"}},
      {"url":"https://a/2","headers":{"CF-Device-Type":"mobile"}}]})"));
  EXPECT_EQ(text.size(), body.size(2, items[0].size() + items[1].size()));

  CliRequest tags;
  tags.command = Command::tag;
  EXPECT_EQ(PurgeBody(tags).text({PurgeBody(tags).item_json("t")}), R"({"tags":["t"]})");
  CliRequest everything;
  everything.command = Command::everything;
  everything.zone = "z";
  EXPECT_EQ(json::parse(PurgeBody(everything).text({})),
            json::parse(R"({"zone":"z","purge_everything":true})"));
}

TEST(CliChunks, ShortListIsOneIntent) {
  std::istringstream in(lines(3));
  const auto request = url_request(in);
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  const auto bodies = all_bodies(chunker);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0].at("files").as_array().size(), 3u);
}

TEST(CliChunks, TheDaemonsDefaultsCutSixHundredThousandUrls) {
  // The issue's list: 600,000 URLs of 30 to 35 bytes, about 20 MB in all.
  std::istringstream in(lines(600'000));
  const auto request = url_request(in);
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  std::size_t total = 0;
  std::size_t chunks = 0;
  std::string last;
  while (auto chunk = chunker.next()) {
    ++chunks;
    EXPECT_EQ(chunk->first, total);
    EXPECT_LE(chunk->item_jsons.size(), kDaemonMaxItems);
    EXPECT_LE(body.size(chunk->item_jsons.size(), chunk->item_bytes), kDaemonMaxBodyBytes);
    total += chunk->item_jsons.size();
    last = chunk->item_jsons.back();
  }
  EXPECT_EQ(total, 600'000u);
  EXPECT_EQ(last, "\"https://www.example.com/p/600000\"");
  // Each intent holds as much as the body cap allows: 8 MiB of 36-byte items, 233,000 or so.
  EXPECT_EQ(chunks, 3u);
}

TEST(CliChunks, ItemCapBindsForShortItems) {
  std::istringstream in(lines(600'000, "t"));
  CliRequest request;
  request.command = Command::tag;
  request.stdin_items = &in;
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  std::vector<std::size_t> sizes;
  while (auto chunk = chunker.next()) sizes.push_back(chunk->item_jsons.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{250'000, 250'000, 100'000}));
}

TEST(CliChunks, RefusedChunkIsCutSmallerInOrder) {
  std::istringstream in(lines(10));
  const auto request = url_request(in);
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  auto first = chunker.next();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->item_jsons.size(), 10u);
  // The daemon allows 4 items (it said so): 4, 4, 2, then nothing new.
  ASSERT_TRUE(chunker.refused(*first, false, 4));
  EXPECT_EQ(chunker.caps().max_items, 4u);
  std::vector<std::pair<std::uint64_t, std::size_t>> seen;
  while (auto chunk = chunker.next()) seen.emplace_back(chunk->first, chunk->item_jsons.size());
  EXPECT_EQ(seen, (std::vector<std::pair<std::uint64_t, std::size_t>>{{0, 4}, {4, 4}, {8, 2}}));

  // Without a limit named (or one above what was sent: cache-key variants), halve.
  std::istringstream in2(lines(10));
  const auto request2 = url_request(in2);
  ItemStream items2(request2);
  IntentChunker halving(items2, body);
  auto chunk = halving.next();
  ASSERT_TRUE(halving.refused(*chunk, false, 250'000));
  EXPECT_EQ(halving.caps().max_items, 5u);
  // A body refusal lowers the byte cap below the refused body.
  chunk = halving.next();
  const auto refused_size = body.size(chunk->item_jsons.size(), chunk->item_bytes);
  ASSERT_TRUE(halving.refused(*chunk, true, std::nullopt));
  EXPECT_EQ(halving.caps().max_body_bytes, refused_size / 2);
  std::size_t total = 0;
  while (auto next = halving.next()) {
    EXPECT_LE(body.size(next->item_jsons.size(), next->item_bytes), refused_size / 2);
    total += next->item_jsons.size();
  }
  EXPECT_EQ(total, 10u);

  // One item cannot be cut further.
  std::istringstream one("https://a/1\n");
  const auto request3 = url_request(one);
  ItemStream items3(request3);
  IntentChunker single(items3, body);
  auto only = single.next();
  EXPECT_FALSE(single.refused(*only, true, std::nullopt));
  EXPECT_EQ(only->item_jsons.size(), 1u) << "left as it was, for the error message";
}

TEST(CliChunks, AnItemBiggerThanTheCapGoesAlone) {
  std::istringstream in("https://a/1\nhttps://a/" + std::string(200, 'x') + "\nhttps://a/3\n");
  const auto request = url_request(in);
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  chunker.set_caps({100, 1000});
  std::vector<std::size_t> sizes;
  while (auto chunk = chunker.next()) sizes.push_back(chunk->item_jsons.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 1, 1}));
}

}  // namespace
}  // namespace purgeq::cli
