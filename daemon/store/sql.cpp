#include "store/sql.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace purgeq {

StatementTexts::StatementTexts(std::string_view backend, std::string_view file)
    : texts_(kStatementCount) {
  constexpr std::string_view kMarker = "-- name: ";
  std::size_t at = file.find(kMarker);
  while (at != std::string_view::npos) {
    const auto name_start = at + kMarker.size();
    const auto name_end = std::min(file.find('\n', name_start), file.size());
    const auto name = file.substr(name_start, name_end - name_start);
    const auto next = file.find(kMarker, name_end);
    const auto body =
        file.substr(name_end, (next == std::string_view::npos ? file.size() : next) - name_end);
    // Whole-line comments explain the statement in the file; the text run is the SQL alone, so
    // that a comment can never name a parameter (SQLite reads which ones a text uses).
    std::string text;
    for (std::size_t line = 0; line < body.size();) {
      const auto end = std::min(body.find('\n', line), body.size());
      const auto content = body.substr(line, end - line);
      const auto first = content.find_first_not_of(' ');
      if (first != std::string_view::npos && content.substr(first, 2) != "--") {
        if (!text.empty()) text += '\n';
        text += content;
      }
      line = end + 1;
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == ';')) text.pop_back();
    const auto* found = std::find(kStatementNames.begin(), kStatementNames.end(), name);
    if (found == kStatementNames.end()) {
      throw std::logic_error(
          fmt::format("{} queries.sql: {} is not a statement of statements.h", backend, name));
    }
    texts_[static_cast<std::size_t>(found - kStatementNames.begin())] = std::move(text);
    at = next;
  }
  for (std::size_t i = 0; i < kStatementCount; ++i) {
    if (texts_[i].empty()) {
      throw std::logic_error(
          fmt::format("{} queries.sql: no text for statement {}", backend, kStatementNames[i]));
    }
  }
}

}  // namespace purgeq
