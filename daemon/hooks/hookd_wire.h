// The protocol between purgeqd and purgeq-hookd, the helper that runs command hooks as their own
// user (docs/operations.md, "Completion hooks"). One connection per hook run, in frames of
// [type: 1 byte][payload size: u32, big-endian][payload]:
//
//   purgeqd -> hookd   'S' spec    the ProcessSpec; the first frame, once
//                      'I' stdin   the next piece of the hook's stdin (1 to kMaxStdinPiece bytes)
//                      'E' end     no more stdin (the hook's stdin is closed)
//   hookd -> purgeqd   'W' want    the previous piece is written: send the next ('I' or 'E')
//                      'R' result  the ProcessResult; the last frame
//
// The helper pulls stdin one piece at a time, as HookProcess pulls it from its feed, so neither
// side holds more than a piece however large the intent, and both always read the connection: a
// daemon that goes away (stop, crash) is seen at once and the hook's process group is killed.
// Pure encoding and decoding here; hookd_channel.h moves frames over a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hooks/hook_process.h"

namespace purgeq::hookd {

enum class FrameType : char {
  spec = 'S',
  stdin_piece = 'I',
  stdin_end = 'E',
  want_stdin = 'W',
  result = 'R',
};

inline constexpr std::size_t kHeaderSize = 5;
// No frame is larger: a spec (argv and environment), a stdin piece, a result with its output.
inline constexpr std::uint32_t kMaxPayload = 1024 * 1024;
inline constexpr std::size_t kMaxStdinPiece = 256 * 1024;
// The largest max_output the helper accepts, so that a result always fits in one frame.
inline constexpr std::size_t kMaxOutput = 512 * 1024;

struct Header {
  FrameType type = FrameType::spec;
  std::uint32_t size = 0;
};

// The whole frame: header and payload. The payload must be at most kMaxPayload bytes.
std::string frame(FrameType type, std::string_view payload);
// Reads a header of kHeaderSize bytes; nullopt with `error` set for an unknown type or a payload
// larger than kMaxPayload.
std::optional<Header> parse_header(std::string_view bytes, std::string& error);

// A spec's payload: argv, env, timeout, kill_grace and max_output, each string length-prefixed.
std::string encode_spec(const ProcessSpec& spec);
// nullopt with `error` set for a truncated or malformed payload, an empty argv, a program that is
// not an absolute path, or a max_output above kMaxOutput.
std::optional<ProcessSpec> decode_spec(std::string_view payload, std::string& error);

std::string encode_result(const ProcessResult& result);
std::optional<ProcessResult> decode_result(std::string_view payload, std::string& error);

[[nodiscard]] std::string_view type_name(FrameType type);

}  // namespace purgeq::hookd
