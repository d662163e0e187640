// How the queue's algorithms (queue_store.cpp) speak to a database: a statement of the queue's
// vocabulary (statements.h), typed parameters, and a cursor over the rows it returns. Each backend
// runs its own SQL text for each statement (store/sql/<backend>/queries.sql), so the algorithms,
// and the reading of every row into the store's types, are written once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "store/statements.h"

namespace purgeq {

// Array parameters carry many rows in one call. PostgreSQL gets each as one array value. SQLite,
// which has no arrays, runs the statement once per element (parallel arrays advance together)
// where its text names the parameter plainly (`?3`), and binds it as a JSON array where its text
// reads it whole (`json_each(?3)`).
using IdList = std::vector<std::int64_t>;
using TextList = std::vector<std::optional<std::string>>;
// NULL (a text NULL), an integer, a text, or one of the arrays.
using Param = std::variant<std::monostate, std::int64_t, std::string, IdList, TextList>;

// A statement's parameters, in order ($1/?1 first). The typed overloads are the only place an
// enum or a bool becomes the integer the schema stores.
class Params {
 public:
  Params& add(std::int64_t value) {
    values_.emplace_back(value);
    return *this;
  }
  Params& add(bool value) { return add(std::int64_t{value ? 1 : 0}); }
  Params& add(std::string_view text) {
    values_.emplace_back(std::string(text));
    return *this;
  }
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  // NULL when absent.
  Params& add(const std::optional<std::string_view>& text) {
    if (text) return add(*text);
    values_.emplace_back(std::monostate{});
    return *this;
  }
  template <class E>
  requires std::is_enum_v<E> Params& add(E value) {
    return add(static_cast<std::int64_t>(static_cast<std::underlying_type_t<E>>(value)));
  }
  Params& add(IdList ids) {
    values_.emplace_back(std::move(ids));
    return *this;
  }
  Params& add(TextList texts) {
    values_.emplace_back(std::move(texts));
    return *this;
  }

  [[nodiscard]] const std::vector<Param>& values() const { return values_; }

 private:
  std::vector<Param> values_;
};

// A backend's cursor over one statement's result. Columns are numbered from 0.
class RowCursor {
 public:
  virtual ~RowCursor() = default;
  RowCursor() = default;
  RowCursor(const RowCursor&) = delete;
  RowCursor& operator=(const RowCursor&) = delete;

  virtual bool next() = 0;
  [[nodiscard]] virtual bool null(int column) const = 0;
  [[nodiscard]] virtual std::int64_t integer(int column) const = 0;
  [[nodiscard]] virtual std::string text(int column) const = 0;
  // Rows the statement inserted, updated or deleted (meaningful once every row is read).
  [[nodiscard]] virtual std::int64_t changed() const = 0;
};

// The rows of one statement, read in order: `while (rows.next()) ... rows.integer(0) ...`.
class Rows {
 public:
  explicit Rows(std::unique_ptr<RowCursor> cursor) : cursor_(std::move(cursor)) {}

  bool next() { return cursor_->next(); }
  [[nodiscard]] bool null(int column) const { return cursor_->null(column); }
  [[nodiscard]] std::int64_t integer(int column) const { return cursor_->integer(column); }
  [[nodiscard]] std::string text(int column) const { return cursor_->text(column); }
  // An integer column read as one of the schema's enums, or nullopt when out of its range (a
  // value written by a newer purgeqd): `count` is the enum's number of values.
  template <class E>
  [[nodiscard]] std::optional<E> as(int column, int count) const {
    const auto value = integer(column);
    if (value < 0 || value >= count) return std::nullopt;
    return static_cast<E>(value);
  }
  // Reads what is left and returns the rows changed.
  std::int64_t finish() {
    while (next()) {
    }
    return cursor_->changed();
  }

 private:
  std::unique_ptr<RowCursor> cursor_;
};

// The part of a backend's connection the algorithms use: its SQL for each statement.
class SqlRunner {
 public:
  virtual ~SqlRunner() = default;
  SqlRunner() = default;
  SqlRunner(const SqlRunner&) = delete;
  SqlRunner& operator=(const SqlRunner&) = delete;

  // Runs `statement` with `params` (kept by the result: SQLite binds them as it goes); its rows
  // are read through the result, and a statement runs only as far as they are read. One
  // statement's rows must be read (or dropped) before the same statement runs again.
  virtual Rows query(Stmt statement, Params params) = 0;
  // Runs it to the end; returns the rows it changed.
  std::int64_t exec(Stmt statement, Params params) {
    return query(statement, std::move(params)).finish();
  }
  // The first column of the first row, if there is one and it is not NULL.
  std::optional<std::int64_t> scalar(Stmt statement, Params params) {
    auto rows = query(statement, std::move(params));
    std::optional<std::int64_t> value;
    if (rows.next() && !rows.null(0)) value = rows.integer(0);
    rows.finish();
    return value;
  }
};

// A backend's statements, read from its embedded queries.sql: every statement of the vocabulary
// must have its text (checked at open: a missing one is a build error caught by the first test).
class StatementTexts {
 public:
  // `file`: "-- name: <statement>" lines, each followed by that statement's SQL.
  StatementTexts(std::string_view backend, std::string_view file);
  [[nodiscard]] const std::string& of(Stmt statement) const {
    return texts_[static_cast<std::size_t>(statement)];
  }

 private:
  std::vector<std::string> texts_;
};

}  // namespace purgeq
