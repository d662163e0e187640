// Big-endian integers and length-prefixed strings: no text format, because argv, the environment
// and a hook's output are bytes (a hook may print anything), and a decoder that checks every
// length against what is left cannot be walked off the end of a frame.
#include "hooks/hookd_wire.h"

#include <fmt/format.h>

#include <chrono>
#include <limits>

namespace purgeq::hookd {
namespace {

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void put_u64(std::string& out, std::uint64_t value) {
  put_u32(out, static_cast<std::uint32_t>(value >> 32));
  put_u32(out, static_cast<std::uint32_t>(value & 0xffffffffU));
}

void put_string(std::string& out, std::string_view text) {
  put_u32(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

std::uint64_t to_ms(std::chrono::milliseconds duration) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count()));
}

// Reads a payload front to back; the first short read sets `error` and every later read fails.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  std::optional<std::uint32_t> u32(std::string_view what) {
    if (!take(4, what)) return std::nullopt;
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      value = (value << 8) | static_cast<unsigned char>(bytes_[pos_ - 4 + i]);
    }
    return value;
  }
  std::optional<std::uint64_t> u64(std::string_view what) {
    const auto high = u32(what);
    const auto low = u32(what);
    if (!high || !low) return std::nullopt;
    return (std::uint64_t{*high} << 32) | *low;
  }
  std::optional<bool> flag(std::string_view what) {
    if (!take(1, what)) return std::nullopt;
    const auto value = static_cast<unsigned char>(bytes_[pos_ - 1]);
    if (value > 1) {
      fail(fmt::format("{} is {}, not 0 or 1", what, value));
      return std::nullopt;
    }
    return value == 1;
  }
  std::optional<std::string> string(std::string_view what) {
    const auto size = u32(what);
    if (!size || !take(*size, what)) return std::nullopt;
    return std::string(bytes_.substr(pos_ - *size, *size));
  }
  // A count of strings that follow: each takes at least 4 bytes, so a count larger than what is
  // left is malformed (and would otherwise reserve memory for nothing).
  std::optional<std::uint32_t> count(std::string_view what) {
    const auto value = u32(what);
    if (value && *value > (bytes_.size() - pos_) / 4) {
      fail(
          fmt::format("{}: {} entries cannot fit in {} bytes", what, *value, bytes_.size() - pos_));
      return std::nullopt;
    }
    return value;
  }
  bool at_end(std::string_view what) {
    if (!error_.empty()) return false;
    if (pos_ != bytes_.size()) {
      fail(fmt::format("{} bytes after the {}", bytes_.size() - pos_, what));
      return false;
    }
    return true;
  }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  bool take(std::size_t size, std::string_view what) {
    if (!error_.empty()) return false;
    if (size > bytes_.size() - pos_) {
      fail(fmt::format("{} is cut short ({} bytes wanted, {} left)", what, size,
                       bytes_.size() - pos_));
      return false;
    }
    pos_ += size;
    return true;
  }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::optional<std::chrono::milliseconds> read_ms(Reader& reader, std::string_view what) {
  const auto value = reader.u64(what);
  if (!value) return std::nullopt;
  // Durations travel as unsigned milliseconds; anything past int64 is not a duration we sent.
  if (*value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(*value));
}

}  // namespace

std::string_view type_name(FrameType type) {
  switch (type) {
    case FrameType::spec:
      return "spec";
    case FrameType::stdin_piece:
      return "stdin";
    case FrameType::stdin_end:
      return "stdin end";
    case FrameType::want_stdin:
      return "want stdin";
    case FrameType::result:
      return "result";
  }
  return "unknown";
}

std::string frame(FrameType type, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out.push_back(static_cast<char>(type));
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

std::optional<Header> parse_header(std::string_view bytes, std::string& error) {
  if (bytes.size() != kHeaderSize) {
    error = fmt::format("a frame header is {} bytes, got {}", kHeaderSize, bytes.size());
    return std::nullopt;
  }
  Header header;
  switch (bytes[0]) {
    case 'S':
    case 'I':
    case 'E':
    case 'W':
    case 'R':
      header.type = static_cast<FrameType>(bytes[0]);
      break;
    default:
      error = fmt::format("unknown frame type 0x{:02x}", static_cast<unsigned char>(bytes[0]));
      return std::nullopt;
  }
  Reader reader(bytes.substr(1));
  header.size = *reader.u32("frame size");
  if (header.size > kMaxPayload) {
    error = fmt::format("a {} frame of {} bytes (at most {})", type_name(header.type), header.size,
                        kMaxPayload);
    return std::nullopt;
  }
  return header;
}

std::string encode_spec(const ProcessSpec& spec) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(spec.argv.size()));
  for (const auto& arg : spec.argv) put_string(out, arg);
  put_u32(out, static_cast<std::uint32_t>(spec.env.size()));
  for (const auto& var : spec.env) put_string(out, var);
  put_u64(out, to_ms(spec.timeout));
  put_u64(out, to_ms(spec.kill_grace));
  put_u64(out, spec.max_output);
  return out;
}

std::optional<ProcessSpec> decode_spec(std::string_view payload, std::string& error) {
  Reader reader(payload);
  ProcessSpec spec;
  const auto argc = reader.count("argv");
  for (std::uint32_t i = 0; argc && i < *argc; ++i) {
    auto arg = reader.string("argv entry");
    if (!arg) break;
    spec.argv.push_back(std::move(*arg));
  }
  const auto envc = reader.count("env");
  for (std::uint32_t i = 0; envc && i < *envc; ++i) {
    auto var = reader.string("env entry");
    if (!var) break;
    spec.env.push_back(std::move(*var));
  }
  const auto timeout = read_ms(reader, "timeout");
  const auto kill_grace = read_ms(reader, "kill_grace");
  const auto max_output = reader.u64("max_output");
  if (!reader.at_end("spec")) {
    error = reader.error();
    return std::nullopt;
  }
  if (!timeout || !kill_grace) {
    error = "a duration out of range";
    return std::nullopt;
  }
  if (spec.argv.empty() || spec.argv.front().empty() || spec.argv.front().front() != '/') {
    error = "argv[0] must be the program by absolute path";
    return std::nullopt;
  }
  if (*max_output > kMaxOutput) {
    error = fmt::format("max_output {} is above {}", *max_output, kMaxOutput);
    return std::nullopt;
  }
  spec.timeout = *timeout;
  spec.kill_grace = *kill_grace;
  spec.max_output = static_cast<std::size_t>(*max_output);
  return spec;
}

std::string encode_result(const ProcessResult& result) {
  std::string out;
  out.push_back(result.ok ? '\1' : '\0');
  out.push_back(result.output_truncated ? '\1' : '\0');
  put_string(out, result.error);
  put_string(out, result.output);
  return out;
}

std::optional<ProcessResult> decode_result(std::string_view payload, std::string& error) {
  Reader reader(payload);
  ProcessResult result;
  const auto ok = reader.flag("ok");
  const auto truncated = reader.flag("output_truncated");
  auto text = reader.string("error");
  auto output = reader.string("output");
  if (!reader.at_end("result")) {
    error = reader.error();
    return std::nullopt;
  }
  result.ok = *ok;
  result.output_truncated = *truncated;
  result.error = std::move(*text);
  result.output = std::move(*output);
  return result;
}

}  // namespace purgeq::hookd
