// Indentation and quoting mistakes behind yaml-cpp's syntax errors (see yaml_hints.h).
#include "config/yaml_hints.h"

#include <fmt/format.h>
#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <vector>

#include "model/text.h"

namespace purgeq::strict_yaml {
namespace {

enum class LevelKind { map, list };

// A block the lines below may continue: its entries start at `indent`.
struct Level {
  int indent;
  LevelKind kind;
  int line;  // where it started
};

struct Line {
  int number;                // 0-based
  int indent;                // spaces before the content
  std::string_view content;  // without indentation, comment and trailing spaces
};

// The line without a trailing comment (a '#' at the start or after a blank, outside quotes).
std::string_view strip_comment(std::string_view content) {
  char quote = 0;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if ((c == '"' || c == '\'') && (i == 0 || content[i - 1] == ' ' || content[i - 1] == '[' ||
                                    content[i - 1] == ',' || content[i - 1] == ':')) {
      quote = c;
    } else if (c == '#' && (i == 0 || content[i - 1] == ' ' || content[i - 1] == '\t')) {
      content = content.substr(0, i);
      break;
    }
  }
  while (!content.empty() && (content.back() == ' ' || content.back() == '\t')) {
    content.remove_suffix(1);
  }
  return content;
}

// Net '[' and '{' left open on the line, outside quotes: a flow collection continuing below.
int open_brackets(std::string_view content) {
  int depth = 0;
  char quote = 0;
  for (const char c : content) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return depth;
}

// "key: |", "key: >-": the lines below that are deeper are text, not YAML.
bool starts_block_scalar(std::string_view content) {
  const auto colon = content.rfind(": ");
  if (colon == std::string_view::npos) return false;
  auto value = content.substr(colon + 2);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return !value.empty() && (value.front() == '|' || value.front() == '>') &&
         value.find_first_not_of("|>+-0123456789") == std::string_view::npos;
}

// What a message calls a line: its key, or its first few words.
std::string head_of(std::string_view content) {
  if (const auto colon = content.find(':'); colon != std::string_view::npos && colon > 0) {
    return quote(content.substr(0, colon));
  }
  return quote(content);
}

std::string spaces(int n) {
  return fmt::format("{} {}", n, n == 1 ? "space" : "spaces");
}

// Walks the block structure of `text` and keeps the last indentation mistake at or before
// `until` (a 0-based line). The model is small on purpose: levels of maps and lists by indent,
// and whether the previous line opened a block (a key with no value on its line, or "-").
class IndentScanner {
 public:
  std::optional<SyntaxHint> scan(std::string_view text, int until) {
    int number = -1;
    std::size_t at = 0;
    while (at <= text.size() && number < until) {
      const auto end = std::min(text.find('\n', at), text.size());
      auto raw = text.substr(at, end - at);
      at = end + 1;
      ++number;
      if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
      step(number, raw);
      if (end == text.size()) break;
    }
    return found_;
  }

 private:
  void step(int number, std::string_view raw) {
    const auto first = raw.find_first_not_of(" \t");
    if (first == std::string_view::npos) return;  // blank
    const auto lead = raw.substr(0, first);
    const int indent = static_cast<int>(first);
    if (block_scalar_ && indent > block_scalar_indent_) return;
    block_scalar_ = false;
    if (flow_depth_ > 0) {
      flow_depth_ += open_brackets(strip_comment(raw.substr(first)));
      return;
    }
    const auto content = strip_comment(raw.substr(first));
    if (content.empty() || content.starts_with("---") || content.starts_with("...")) return;
    if (lead.find('\t') != std::string_view::npos) {
      found_ = SyntaxHint{number, static_cast<int>(lead.find('\t')),
                          fmt::format("line {} is indented with a tab; YAML indents with spaces "
                                      "only: replace the tab with spaces",
                                      number + 1)};
      previous_ = Line{number, indent, content};
      opens_ = false;
      return;
    }
    const Line line{number, indent, content};
    check(line);
    after(line);
    previous_ = line;
  }

  void check(const Line& line) {
    const bool entry = line.content == "-" || line.content.starts_with("- ");
    const auto kind = entry ? LevelKind::list : LevelKind::map;
    if (levels_.empty()) {
      levels_.push_back({line.indent, kind, line.number});
      return;
    }
    if (opens_) {
      if (line.indent > open_column_ || (line.indent == open_column_ && entry && opened_by_key_)) {
        levels_.push_back({line.indent, kind, line.number});
        return;
      }
    }
    if (line.indent > levels_.back().indent) {
      found_ = SyntaxHint{
          line.number, line.indent,
          fmt::format("{} (line {}) is indented {}, deeper than line {} ({}), which already has a "
                      "value on its line; indent it {} like line {}, or, if line {} is what is out "
                      "of place, line that one up with the keys of its own block",
                      head_of(line.content), line.number + 1, spaces(line.indent),
                      previous_.number + 1, quote(previous_.content), spaces(levels_.back().indent),
                      previous_.number + 1, previous_.number + 1)};
      levels_.push_back({line.indent, kind, line.number});
      return;
    }
    std::optional<Level> deeper;
    while (!levels_.empty() && levels_.back().indent > line.indent) {
      // The nearest block of the least depth: the one the line most likely belongs to.
      if (!deeper || levels_.back().indent < deeper->indent) deeper = levels_.back();
      levels_.pop_back();
    }
    if (levels_.empty() || levels_.back().indent != line.indent) {
      const int outer = levels_.empty() ? 0 : levels_.back().indent;
      const int inner = deeper ? deeper->indent : line.indent + 2;
      found_ = SyntaxHint{
          line.number, line.indent,
          fmt::format("{} (line {}) is indented {}, which lines up with no block around it; "
                      "indent it {} to continue the block of line {}, or {} for a key of the "
                      "enclosing block",
                      head_of(line.content), line.number + 1, spaces(line.indent), spaces(inner),
                      deeper ? deeper->line + 1 : previous_.number + 1, spaces(outer))};
      levels_.push_back({line.indent, kind, line.number});
      return;
    }
    if (levels_.back().kind == LevelKind::list && !entry) {
      // "key:\n- a\nother: b": a list may sit at its key's indentation; the key's map continues.
      if (levels_.size() >= 2 && levels_[levels_.size() - 2].indent == line.indent &&
          levels_[levels_.size() - 2].kind == LevelKind::map) {
        levels_.pop_back();
        return;
      }
      const int inner = deeper ? deeper->indent : line.indent + 2;
      found_ = SyntaxHint{
          line.number, line.indent,
          fmt::format("{} (line {}) is indented {} like the list entries (\"- \") of line {}, but "
                      "is not an entry; indent it {} to add it to the entry above, or start a new "
                      "entry with \"- \"",
                      head_of(line.content), line.number + 1, spaces(line.indent),
                      levels_.back().line + 1, spaces(inner))};
      return;
    }
    if (levels_.back().kind == LevelKind::map && entry) {
      levels_.push_back({line.indent, LevelKind::list, line.number});
    }
  }

  // What this line opens for the lines below.
  void after(const Line& line) {
    const bool entry = line.content == "-" || line.content.starts_with("- ");
    int column = line.indent;
    auto rest = line.content;
    if (entry) {
      rest.remove_prefix(1);
      const auto skip = rest.find_first_not_of(' ');
      column += 1 + static_cast<int>(skip == std::string_view::npos ? rest.size() : skip);
      rest = skip == std::string_view::npos ? std::string_view() : rest.substr(skip);
      // "- name: x": the entry is a map whose keys line up with "name".
      if (!rest.empty() && rest.find(':') != std::string_view::npos && rest.front() != '[' &&
          rest.front() != '{' && rest.front() != '"' && rest.front() != '\'') {
        levels_.push_back({column, LevelKind::map, line.number});
      }
    }
    flow_depth_ = std::max(0, open_brackets(rest));
    opens_ = false;
    if (entry && rest.empty()) {
      opens_ = true;
      opened_by_key_ = false;
      open_column_ = line.indent;
    } else if (rest.ends_with(':')) {
      opens_ = true;
      opened_by_key_ = true;
      open_column_ = column;
    } else if (starts_block_scalar(rest)) {
      block_scalar_ = true;
      block_scalar_indent_ = column;
    }
  }

  std::vector<Level> levels_;
  Line previous_{-1, 0, {}};
  bool opens_ = false;          // the previous line ends with a key and ':' (or is a bare "-")
  bool opened_by_key_ = false;  // ... by a key (a list may then start at the key's column)
  int open_column_ = 0;         // the column of that key (or "-")
  bool block_scalar_ = false;
  int block_scalar_indent_ = 0;
  int flow_depth_ = 0;
  std::optional<SyntaxHint> found_;
};

// The token at `column` of `line`, where yaml-cpp saw an alias ("*.example.com").
std::optional<SyntaxHint> explain_alias(std::string_view text, int line, int column) {
  std::size_t at = 0;
  for (int n = 0; n < line; ++n) {
    at = text.find('\n', at);
    if (at == std::string_view::npos) return std::nullopt;
    ++at;
  }
  const auto row = text.substr(at, text.find('\n', at) - at);
  auto star = row.rfind('*', static_cast<std::size_t>(std::max(column, 0)));
  if (star == std::string_view::npos) star = row.find('*');
  if (star == std::string_view::npos) return std::nullopt;
  const auto end = std::min(row.find_first_of(" ,]}#\r", star), row.size());
  const auto token = row.substr(star, end - star);
  return SyntaxHint{
      line, static_cast<int>(star),
      fmt::format("{} on line {}: an unquoted '*' starts a YAML alias (a reference to an "
                  "&anchor), and no anchor has that name; to write a wildcard, quote it: \"{}\"",
                  token, line + 1, token)};
}

// "level: info: debug": a second ": " in a plain value.
std::optional<SyntaxHint> explain_colon(std::string_view text, int line) {
  std::size_t at = 0;
  for (int n = 0; n < line; ++n) {
    at = text.find('\n', at);
    if (at == std::string_view::npos) return std::nullopt;
    ++at;
  }
  const auto row = strip_comment(text.substr(at, text.find('\n', at) - at));
  const auto first = row.find(": ");
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = row.find(": ", first + 2);
  if (second == std::string_view::npos && !row.substr(first + 2).ends_with(':')) {
    return std::nullopt;
  }
  auto value = row.substr(first + 2);
  return SyntaxHint{line, static_cast<int>(first + 2),
                    fmt::format("the value on line {} contains \": \", which YAML reads as "
                                "another key; put the value in quotes: {}",
                                line + 1, quote(value))};
}

}  // namespace

std::optional<SyntaxHint> explain_syntax_error(std::string_view text, int line, int column,
                                               std::string_view message) {
  if (message == YAML::ErrorMsg::UNKNOWN_ANCHOR) return explain_alias(text, line, column);
  const bool structural =
      message == YAML::ErrorMsg::END_OF_MAP || message == YAML::ErrorMsg::END_OF_SEQ ||
      message == YAML::ErrorMsg::MAP_VALUE || message == YAML::ErrorMsg::END_OF_MAP_FLOW ||
      message == YAML::ErrorMsg::END_OF_SEQ_FLOW;
  if (!structural) return std::nullopt;
  if (auto hint = IndentScanner().scan(text, line)) return hint;
  if (message == YAML::ErrorMsg::MAP_VALUE) return explain_colon(text, line);
  return std::nullopt;
}

}  // namespace purgeq::strict_yaml
