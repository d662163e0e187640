// Error wording shared by the intake steps.
#include "intake/intake_error.h"

#include <fmt/format.h>

namespace purgeq {
std::string bounded_item(std::string_view item) {
  if (item.size() <= kMaxErrorItemBytes) return std::string(item);
  return fmt::format("{}... ({} bytes)", utf8_prefix(item, kMaxErrorItemBytes), item.size());
}

IntakeError make_error(ErrorCode code, std::string_view path, std::string_view text,
                       std::string_view item) {
  std::string message = path.empty() ? std::string(text) : fmt::format("{}: {}", path, text);
  return IntakeError{code, std::move(message), bounded_item(item)};
}

std::string_view type_name(const boost::json::value& value) {
  namespace json = boost::json;
  switch (value.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

}  // namespace purgeq
