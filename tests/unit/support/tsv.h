// The one reader for the data-driven tables in tests/unit/data. Every table follows the same rules:
// blank lines and lines starting with '#' are skipped; columns are separated by one or more tabs
// (so they may be aligned); a column that must be empty is written "\e".
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace purgeq::test {

struct TsvRow {
  std::string where;  // "items.tsv:12", for failure messages
  std::vector<std::string> fields;
};

inline std::vector<std::string> split_tsv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const auto tab = line.find('\t', pos);
    const auto end = tab == std::string::npos ? line.size() : tab;
    if (end > pos) {
      std::string field = line.substr(pos, end - pos);
      fields.push_back(field == "\\e" ? std::string() : std::move(field));
    }
    pos = end + 1;
  }
  return fields;
}

// The rows of tests/unit/data/<name>. A missing file fails the calling test.
inline std::vector<TsvRow> read_tsv(const std::string& name) {
  const std::string path = std::string(PURGEQ_TEST_DATA_DIR) + "/" + name;
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot open " << path;
  std::vector<TsvRow> rows;
  std::string line;
  int line_number = 0;
  while (std::getline(file, line)) {
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    rows.push_back({name + ":" + std::to_string(line_number) + ": " + line, split_tsv_line(line)});
  }
  return rows;
}

}  // namespace purgeq::test
