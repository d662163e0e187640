// Strict reading of YAML against a fixed schema, independent of any particular schema: every
// problem is collected with its key path ("zones[1].account: ...") and reported together in
// document order; unknown keys get a "did you mean"; duplicate keys are errors, not a silent
// last-one-wins.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/text.h"

namespace purgeq::strict_yaml {

// A value, where it lives and where problems about it are reported. For a map entry the mark is
// the key's: a null or block value has no useful position of its own.
struct Field {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

// Problems and notes with their document positions; sorted when taken so the caller can
// validate in whatever order the cross-references need and still report in reading order.
// A note is worth telling but does not make the document invalid.
class Checker {
 public:
  void add(const YAML::Mark& mark, const std::string& path, std::string_view reason);
  void add(const Field& field, std::string_view reason) { add(field.mark, field.path, reason); }
  void note(const YAML::Mark& mark, const std::string& path, std::string_view text);
  void note(const Field& field, std::string_view text) { note(field.mark, field.path, text); }

  [[nodiscard]] bool empty() const { return problems_.empty(); }

  [[nodiscard]] std::vector<std::string> take() { return take_sorted(problems_); }
  [[nodiscard]] std::vector<std::string> take_notes() { return take_sorted(notes_); }

 private:
  struct Entry {
    int line;
    int column;
    std::string text;
  };
  static void push(std::vector<Entry>& to, const YAML::Mark& mark, const std::string& path,
                   std::string_view text);
  static std::vector<std::string> take_sorted(std::vector<Entry>& entries);

  std::vector<Entry> problems_;
  std::vector<Entry> notes_;
};

// Parses exactly one document. A syntax error ("source:line:column: reason") or a second
// document is reported to `checker` and gives nullopt.
std::optional<YAML::Node> parse_document(Checker& checker, const std::string& text,
                                         const std::string& source_name);

// A mark after every real one, for problems about keys that are absent altogether.
YAML::Mark end_mark();

// "path.key", or "key" at the top.
std::string join(std::string_view path, std::string_view key);

// A node as messages name it: its quoted scalar, "a list", "a map" or "nothing".
std::string describe(const YAML::Node& node);

// The closest candidate, if it is close enough to be a plausible typo (a third of the length),
// or else the only one the text abbreviates ("give_up" for "give_up_after").
std::optional<std::string_view> suggest(std::string_view wrong,
                                        const std::vector<std::string_view>& candidates);

// "a, b or c"
std::string list_words(const std::vector<std::string_view>& words, std::string_view last_sep);

// `unknown level "verbos" (did you mean "debug"?)` or `... (use debug, info or error)`.
std::string unknown_value(std::string_view what, std::string_view value,
                          const std::vector<std::string_view>& valid);

// The entries of one YAML map, checked against the keys the schema allows at that place.
class MapView {
 public:
  // `map.node` must be a map or null (an empty section, e.g. every child commented out).
  MapView(Checker& checker, const Field& map, std::initializer_list<std::string_view> known);

  [[nodiscard]] std::optional<Field> get(std::string_view key) const;
  // Whether an unknown key of this map was reported as a likely typo of `key` ("did you mean"):
  // then `key` is not missing but misspelled, and errors that follow from its absence ("no
  // token", "required") would only bury the one that matters.
  [[nodiscard]] bool misspelled(std::string_view key) const;
  // Like get(), but an explicit null ("key:" with nothing after it) counts as absent.
  [[nodiscard]] std::optional<Field> get_present(std::string_view key) const;

 private:
  std::vector<std::string_view> known_;
  std::map<std::string, Field, std::less<>> entries_;
  std::vector<std::string_view> misspelled_;  // known keys suggested for unknown ones
};

// True for a map, and for null when a missing section is allowed; otherwise reports the type.
bool expect_map(Checker& checker, const Field& field, bool null_ok);
bool expect_list(Checker& checker, const Field& field);

// A list's entries, each with its path ("zones[2]").
std::vector<Field> items(const Field& list);

// Typed scalars: the value, or nullopt after reporting what was expected.
std::optional<std::string> read_string(Checker& checker, const Field& field);  // non-empty
std::optional<bool> read_bool(Checker& checker, const Field& field);
std::optional<long long> read_int(Checker& checker, const Field& field);
std::optional<double> read_number(Checker& checker, const Field& field);  // finite

}  // namespace purgeq::strict_yaml
