// The items of a submit command, one at a time: the arguments in order, stdin's lines where `-`
// stood, each trimmed and put in the ASCII form Cloudflare's cache keys hold (model/iri.h). Stdin
// is read as items are taken, so a list of millions never sits in memory whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_args.h"

namespace purgeq::cli {

// An item whose text was changed to reach its ASCII form: what was given and what is sent.
struct Encoded {
  std::string given;
  std::string sent;
};

class ItemStream {
 public:
  // The items of `request` (request.items, and request.stdin_items at request.stdin_position).
  explicit ItemStream(const CliRequest& request);

  // The next item, or nullopt at the end or on an item that cannot be encoded (then error() says
  // why, naming the item and where it came from).
  [[nodiscard]] std::optional<std::string> next();

  [[nodiscard]] const std::string& error() const { return error_; }
  // Items handed out so far.
  [[nodiscard]] std::uint64_t taken() const { return taken_; }
  // Whether any item came from stdin (for "stdin had only blank lines").
  [[nodiscard]] bool reads_stdin() const { return stdin_ != nullptr; }
  // The first few items that were encoded, and how many were in all.
  [[nodiscard]] const std::vector<Encoded>& encoded() const { return encoded_; }
  [[nodiscard]] std::uint64_t encoded_count() const { return encoded_count_; }

  // How many encoded items are kept to show in the receipt.
  static constexpr std::size_t kShownEncodings = 5;

 private:
  std::optional<std::string> raw_next();

  Command command_;
  const std::vector<std::string>& arguments_;
  std::size_t stdin_position_;
  std::istream* stdin_;
  std::size_t next_argument_ = 0;
  bool stdin_done_ = false;
  std::uint64_t line_ = 0;   // stdin lines read so far, blank ones included
  bool from_stdin_ = false;  // where the last raw item came from
  std::string line_text_;
  std::uint64_t taken_ = 0;
  std::string error_;
  std::vector<Encoded> encoded_;
  std::uint64_t encoded_count_ = 0;
};

}  // namespace purgeq::cli
