#include "config/strict_yaml.h"

#include <fmt/format.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <sstream>
#include <utility>

#include "config/yaml_hints.h"
#include "model/ascii.h"

namespace purgeq::strict_yaml {

void Checker::push(std::vector<Entry>& to, const YAML::Mark& mark, const std::string& path,
                   std::string_view text) {
  const bool known = !mark.is_null();
  to.push_back({known ? mark.line : INT_MAX, known ? mark.column : INT_MAX,
                path.empty() ? std::string(text) : fmt::format("{}: {}", path, text)});
}

void Checker::add(const YAML::Mark& mark, const std::string& path, std::string_view reason) {
  push(problems_, mark, path, reason);
}

void Checker::note(const YAML::Mark& mark, const std::string& path, std::string_view text) {
  push(notes_, mark, path, text);
}

std::vector<std::string> Checker::take_sorted(std::vector<Entry>& entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (auto& entry : entries) out.push_back(std::move(entry.text));
  entries.clear();
  return out;
}

namespace {

// Counts documents without building them.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// More than one document in the text? At most two are looked at: yaml-cpp 0.7's LoadAll never
// ends on some malformed input (",a: 1" loops allocating nodes; found by fuzz_config), so the
// number of documents is bounded here rather than trusting the parser to run out.
bool has_second_document(const std::string& yaml_text) {
  std::istringstream input(yaml_text);
  YAML::Parser parser(input);
  DocumentCounter counter;
  return parser.HandleNextDocument(counter) && parser.HandleNextDocument(counter);
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("mian" -> "main").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<YAML::Node> parse_document(Checker& checker, const std::string& text,
                                         const std::string& source_name) {
  try {
    YAML::Node document = YAML::Load(text);
    if (has_second_document(text)) {
      checker.add(YAML::Mark::null_mark(), "",
                  fmt::format("{}: expected one YAML document, found more", source_name));
      return std::nullopt;
    }
    return document;
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      checker.add(e.mark, "", fmt::format("{}: {}", source_name, e.msg));
    } else if (const auto hint = explain_syntax_error(text, e.mark.line, e.mark.column, e.msg)) {
      // The line at fault first, with the fix; the parser's own words last, for searching.
      YAML::Mark at = e.mark;
      at.line = hint->line;
      at.column = hint->column;
      checker.add(at, "",
                  fmt::format("{}:{}:{}: {} (YAML parser: {} at line {}, column {})", source_name,
                              hint->line + 1, hint->column + 1, hint->text, e.msg, e.mark.line + 1,
                              e.mark.column + 1));
    } else {
      checker.add(
          e.mark, "",
          fmt::format("{}:{}:{}: {}", source_name, e.mark.line + 1, e.mark.column + 1, e.msg));
    }
    return std::nullopt;
  }
}

YAML::Mark end_mark() {
  YAML::Mark mark;
  mark.pos = mark.line = mark.column = INT_MAX;
  return mark;
}

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::optional<std::string_view> suggest(std::string_view wrong,
                                        const std::vector<std::string_view>& candidates) {
  const std::string folded = ascii_lower(wrong);
  std::optional<std::string_view> extended;
  int extensions = 0;
  for (const auto candidate : candidates) {
    if (folded.size() >= 3 && candidate.starts_with(folded)) {
      extended = candidate;
      ++extensions;
    }
  }
  const std::size_t limit = std::max<std::size_t>(1, wrong.size() / 3);
  std::optional<std::string_view> best;
  std::size_t best_distance = limit + 1;
  for (const auto candidate : candidates) {
    const std::size_t distance = edit_distance(folded, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (!best && extensions == 1) return extended;
  return best;
}

std::string list_words(const std::vector<std::string_view>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? last_sep : ", ";
    out += words[i];
  }
  return out;
}

std::string unknown_value(std::string_view what, std::string_view value,
                          const std::vector<std::string_view>& valid) {
  if (auto near = suggest(value, valid)) {
    return fmt::format("unknown {} {} (did you mean \"{}\"?)", what, quote(value), *near);
  }
  return fmt::format("unknown {} {} (use {})", what, quote(value), list_words(valid, " or "));
}

MapView::MapView(Checker& checker, const Field& map, std::initializer_list<std::string_view> known)
    : known_(known) {
  if (!map.node.IsMap()) return;
  // By value: yaml-cpp's iterator hands out proxies, so references into them would dangle.
  for (const auto& entry : map.node) {
    const YAML::Node key = entry.first;
    if (!key.IsScalar()) {
      checker.add(key.Mark(), map.path, fmt::format("keys must be strings, got {}", describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    Field field{entry.second, join(map.path, name), key.Mark()};
    if (std::find(known_.begin(), known_.end(), name) == known_.end()) {
      if (auto near = suggest(name, known_)) {
        checker.add(field, fmt::format("unknown key (did you mean \"{}\"?)", *near));
        misspelled_.push_back(*near);
      } else {
        checker.add(field, fmt::format("unknown key (valid keys: {})", list_words(known_, ", ")));
      }
      continue;
    }
    if (entries_.contains(name)) {
      // yaml-cpp keeps both; which one wins would be an accident, so neither does silently.
      checker.add(field, "duplicate key");
      continue;
    }
    entries_.emplace(name, std::move(field));
  }
}

std::optional<Field> MapView::get(std::string_view key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

bool MapView::misspelled(std::string_view key) const {
  return std::find(misspelled_.begin(), misspelled_.end(), key) != misspelled_.end();
}

std::optional<Field> MapView::get_present(std::string_view key) const {
  auto field = get(key);
  if (field && field->node.IsNull()) return std::nullopt;
  return field;
}

bool expect_map(Checker& checker, const Field& field, bool null_ok) {
  if (field.node.IsMap() || (null_ok && field.node.IsNull())) return true;
  checker.add(field, fmt::format("expected a map, got {}", describe(field.node)));
  return false;
}

bool expect_list(Checker& checker, const Field& field) {
  if (field.node.IsSequence()) return true;
  checker.add(field, fmt::format("expected a list, got {}", describe(field.node)));
  return false;
}

std::vector<Field> items(const Field& list) {
  std::vector<Field> out;
  std::size_t index = 0;
  for (const auto& item : list.node) {
    const YAML::Mark mark = item.Mark().is_null() ? list.mark : item.Mark();
    out.push_back({item, fmt::format("{}[{}]", list.path, index++), mark});
  }
  return out;
}

std::optional<std::string> read_string(Checker& checker, const Field& field) {
  if (!field.node.IsScalar()) {
    checker.add(field, fmt::format("expected a string, got {}", describe(field.node)));
    return std::nullopt;
  }
  if (field.node.Scalar().empty()) {
    checker.add(field, "must not be empty");
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<bool> read_bool(Checker& checker, const Field& field) {
  bool value = false;
  if (field.node.IsScalar() && YAML::convert<bool>::decode(field.node, value)) return value;
  checker.add(field, fmt::format("expected true or false, got {}", describe(field.node)));
  return std::nullopt;
}

std::optional<long long> read_int(Checker& checker, const Field& field) {
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) return value;
  }
  checker.add(field, fmt::format("expected an integer, got {}", describe(field.node)));
  return std::nullopt;
}

std::optional<double> read_number(Checker& checker, const Field& field) {
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && std::isfinite(value)) {
      return value;
    }
  }
  checker.add(field, fmt::format("expected a number, got {}", describe(field.node)));
  return std::nullopt;
}

}  // namespace purgeq::strict_yaml
