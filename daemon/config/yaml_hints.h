// What a YAML syntax error most likely means in a hand-written config, told as the line at fault
// and the fix. yaml-cpp reports where its parser gave up, in its own terms ("end of map not
// found", "illegal map value"), often a line after the mistake; a person indented a key one step
// too far or too little, typed a tab, or left `*.example.com` unquoted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace purgeq::strict_yaml {

struct SyntaxHint {
  int line = 0;      // 0-based line at fault
  int column = 0;    // 0-based column at fault
  std::string text;  // what is wrong there and the likely fix, one sentence
};

// The explanation of yaml-cpp's error `message` at 0-based `line`/`column` of `text`, or nullopt
// when none of the known mistakes fits (then yaml-cpp's own message is all there is). Only block
// style (one key per line, as configs are written) is analysed; flow collections and block
// scalars are stepped over.
[[nodiscard]] std::optional<SyntaxHint> explain_syntax_error(std::string_view text, int line,
                                                             int column, std::string_view message);

}  // namespace purgeq::strict_yaml
