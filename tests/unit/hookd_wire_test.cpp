// purgeqd <-> purgeq-hookd frames: headers, a spec and a result round trip byte for byte, and
// every malformed payload (cut anywhere, trailing bytes, impossible counts) is refused with a
// reason instead of read past its end.
#include "hooks/hookd_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace purgeq::hookd {
namespace {

ProcessSpec sample_spec() {
  ProcessSpec spec;
  // Bytes, not text: a NUL-free but non-UTF-8 argument and an empty one survive.
  spec.argv = {"/usr/local/bin/warm", "--fast", "", "intent\xff\xfe", "a.example,b.example"};
  spec.env = {"PATH=/usr/bin:/bin", "PURGEQ_HOOK=warm", "PURGEQ_ZONES="};
  spec.timeout = std::chrono::milliseconds(30000);
  spec.kill_grace = std::chrono::milliseconds(2000);
  spec.max_output = 4096;
  return spec;
}

TEST(HookdWire, AFrameIsTypeSizeAndPayload) {
  const auto bytes = frame(FrameType::stdin_piece, "abc");
  EXPECT_EQ(bytes, std::string("I\0\0\0\3abc", 8));
  std::string error;
  const auto header = parse_header(std::string_view(bytes).substr(0, kHeaderSize), error);
  ASSERT_TRUE(header) << error;
  EXPECT_EQ(header->type, FrameType::stdin_piece);
  EXPECT_EQ(header->size, 3U);
  EXPECT_EQ(frame(FrameType::want_stdin, ""), std::string("W\0\0\0\0", 5));
}

TEST(HookdWire, UnknownTypesAndOversizedFramesAreRefused) {
  std::string error;
  EXPECT_FALSE(parse_header(std::string("X\0\0\0\1", 5), error));
  EXPECT_EQ(error, "unknown frame type 0x58");
  // One byte over the bound: a peer cannot make the other side allocate without limit.
  EXPECT_FALSE(parse_header(std::string("I\0\x10\0\1", 5), error));
  EXPECT_EQ(error, "a stdin frame of 1048577 bytes (at most 1048576)");
  EXPECT_TRUE(parse_header(std::string("R\0\x10\0\0", 5), error));
  EXPECT_FALSE(parse_header("S", error));
  EXPECT_EQ(error, "a frame header is 5 bytes, got 1");
}

TEST(HookdWire, ASpecRoundTrips) {
  const auto spec = sample_spec();
  std::string error;
  const auto back = decode_spec(encode_spec(spec), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->argv, spec.argv);
  EXPECT_EQ(back->env, spec.env);
  EXPECT_EQ(back->timeout, spec.timeout);
  EXPECT_EQ(back->kill_grace, spec.kill_grace);
  EXPECT_EQ(back->max_output, spec.max_output);
}

TEST(HookdWire, AResultRoundTripsWithAnyBytesInItsOutput) {
  ProcessResult result{false, "exit status 3", std::string("out\0put\xff\n", 9), true};
  std::string error;
  const auto back = decode_result(encode_result(result), error);
  ASSERT_TRUE(back) << error;
  EXPECT_FALSE(back->ok);
  EXPECT_EQ(back->error, "exit status 3");
  EXPECT_EQ(back->output, result.output);
  EXPECT_TRUE(back->output_truncated);
  const auto ok = decode_result(encode_result({true, "", "", false}), error);
  ASSERT_TRUE(ok) << error;
  EXPECT_TRUE(ok->ok);
}

TEST(HookdWire, EveryCutShortPayloadIsRefused) {
  const auto spec = encode_spec(sample_spec());
  for (std::size_t size = 0; size < spec.size(); ++size) {
    std::string error;
    EXPECT_FALSE(decode_spec(spec.substr(0, size), error)) << "cut at " << size;
    EXPECT_NE(error, "") << "cut at " << size;
  }
  const auto result = encode_result({true, "e", "output", false});
  for (std::size_t size = 0; size < result.size(); ++size) {
    std::string error;
    EXPECT_FALSE(decode_result(result.substr(0, size), error)) << "cut at " << size;
    EXPECT_NE(error, "") << "cut at " << size;
  }
}

TEST(HookdWire, MalformedSpecsAreRefusedWithTheReason) {
  std::string error;
  EXPECT_FALSE(decode_spec(encode_spec(sample_spec()) + "x", error));
  EXPECT_EQ(error, "1 bytes after the spec");

  // An argv count that cannot fit in what follows.
  EXPECT_FALSE(decode_spec(std::string("\xff\xff\xff\xff", 4), error));
  EXPECT_EQ(error, "argv: 4294967295 entries cannot fit in 0 bytes");

  auto relative = sample_spec();
  relative.argv.front() = "warm";
  EXPECT_FALSE(decode_spec(encode_spec(relative), error));
  EXPECT_EQ(error, "argv[0] must be the program by absolute path");

  auto empty = sample_spec();
  empty.argv.clear();
  EXPECT_FALSE(decode_spec(encode_spec(empty), error));
  EXPECT_EQ(error, "argv[0] must be the program by absolute path");

  auto greedy = sample_spec();
  greedy.max_output = kMaxOutput + 1;
  EXPECT_FALSE(decode_spec(encode_spec(greedy), error));
  EXPECT_EQ(error, "max_output 524289 is above 524288");

  EXPECT_FALSE(decode_result(std::string("\2\0\0\0\0\0\0\0\0\0", 10), error));
  EXPECT_EQ(error, "ok is 2, not 0 or 1");
}

}  // namespace
}  // namespace purgeq::hookd
