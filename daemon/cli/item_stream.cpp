// Reading and encoding a submit command's items one by one (see item_stream.h).
#include "cli/item_stream.h"

#include <fmt/format.h>

#include <variant>

#include "model/iri.h"

namespace purgeq::cli {
namespace {

// The item in ASCII form for its command; tags are opaque strings and stay as given.
std::variant<std::string, IriError> ascii_item(Command command, std::string_view item) {
  switch (command) {
    case Command::url:
      return ascii_url(item);
    case Command::host:
      return ascii_host(item);
    case Command::prefix:
      return ascii_prefix(item);
    default:
      return std::string(item);
  }
}

}  // namespace

ItemStream::ItemStream(const CliRequest& request)
    : command_(request.command),
      arguments_(request.items),
      stdin_position_(request.stdin_position),
      stdin_(request.stdin_items) {}

std::optional<std::string> ItemStream::raw_next() {
  for (;;) {
    const bool stdin_now = stdin_ != nullptr && !stdin_done_ && next_argument_ == stdin_position_;
    if (stdin_now) {
      if (!std::getline(*stdin_, line_text_)) {
        stdin_done_ = true;
        continue;
      }
      ++line_;
      const auto item = trim_space(line_text_);
      if (item.empty()) continue;
      from_stdin_ = true;
      return std::string(item);
    }
    if (next_argument_ >= arguments_.size()) return std::nullopt;
    from_stdin_ = false;
    return arguments_[next_argument_++];
  }
}

std::optional<std::string> ItemStream::next() {
  if (!error_.empty()) return std::nullopt;
  auto item = raw_next();
  if (!item) return std::nullopt;
  auto ascii = ascii_item(command_, *item);
  if (const auto* problem = std::get_if<IriError>(&ascii)) {
    error_ =
        from_stdin_ ? fmt::format("stdin line {}: {}", line_, problem->message) : problem->message;
    return std::nullopt;
  }
  auto& sent = std::get<std::string>(ascii);
  if (sent != *item) {
    if (encoded_.size() < kShownEncodings) encoded_.push_back({*item, sent});
    ++encoded_count_;
  }
  ++taken_;
  return std::move(sent);
}

}  // namespace purgeq::cli
