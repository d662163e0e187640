// The duplicate-refusing JSON reader of request bodies.
#include "intake/json_body.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace purgeq {
namespace {

namespace json = boost::json;

// Boost.JSON's own parser handler (a value_stack fed by basic_parser), plus a check that no
// object names a member twice, and enough of a path ("files[2].headers") to say where. One pass.
class CheckedHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  CheckedHandler() { stack_.reset(); }

  json::value release() { return stack_.release(); }
  [[nodiscard]] const std::optional<IntakeError>& duplicate() const { return duplicate_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open(true);
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    close();
    stack_.push_object(n);
    return value_done();
  }
  bool on_array_begin(json::error_code&) {
    open(false);
    return true;
  }
  bool on_array_end(std::size_t n, json::error_code&) {
    close();
    stack_.push_array(n);
    return value_done();
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    key_in_parts_ = true;
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    Frame& frame = frames_[depth_ - 1];
    std::string_view key(s.data(), s.size());
    if (key_in_parts_) {
      key_.append(s.data(), s.size());
      key = key_;
    }
    if (!frame.add(key)) {
      duplicate_ = make_error(
          ErrorCode::duplicate_key, where(),
          fmt::format("duplicate member {} {}; JSON parsers disagree on which one counts, so "
                      "purgeq refuses to guess: give each member once",
                      quote(key), depth_ == 1 ? "in the request body" : "in one object"),
          key);
      ec = json::error::syntax;
      return false;
    }
    frame.key.assign(key);
    key_.clear();
    key_in_parts_ = false;
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_string(s);
    return value_done();
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    stack_.push_int64(i);
    return value_done();
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack_.push_uint64(u);
    return value_done();
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack_.push_double(d);
    return value_done();
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return value_done();
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return value_done();
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // One open object or array. Frames are reused as the depth goes up and down, so a body of a
  // million small objects allocates a handful of frames, not a million.
  struct Frame {
    bool object = false;
    std::size_t index = 0;                 // arrays: the element being read
    std::string key;                       // objects: the member being read
    std::vector<std::string> keys;         // objects: members so far, searched linearly while few
    std::unordered_set<std::string> many;  // ... and hashed once there are many

    void reset(bool is_object) {
      object = is_object;
      index = 0;
      key.clear();
      keys.clear();
      many.clear();
    }
    // False when `name` was seen before in this object.
    bool add(std::string_view name) {
      static constexpr std::size_t kLinear = 16;
      if (keys.size() < kLinear) {
        if (std::find(keys.begin(), keys.end(), name) != keys.end()) return false;
        keys.emplace_back(name);
        if (keys.size() == kLinear) many.insert(keys.begin(), keys.end());
        return true;
      }
      return many.emplace(name).second;
    }
  };

  void open(bool object) {
    if (depth_ == frames_.size()) frames_.emplace_back();
    frames_[depth_++].reset(object);
  }
  void close() { --depth_; }
  // A value is complete: the next one in an enclosing array has the next index.
  bool value_done() {
    if (depth_ > 0 && !frames_[depth_ - 1].object) ++frames_[depth_ - 1].index;
    return true;
  }
  // "files[2].headers": the object holding the current key; "" for the body itself.
  std::string where() const {
    std::string path;
    for (std::size_t i = 0; i + 1 < depth_; ++i) {
      const Frame& frame = frames_[i];
      if (frame.object) {
        if (!path.empty()) path += '.';
        path += utf8_prefix(frame.key, kMaxQuotedBytes);
      } else {
        path += fmt::format("[{}]", frame.index);
      }
    }
    return path;
  }

  json::value_stack stack_;
  std::vector<Frame> frames_;
  std::size_t depth_ = 0;
  std::string key_;  // a key arriving in parts (long, or with escapes)
  bool key_in_parts_ = false;
  std::optional<IntakeError> duplicate_;
};

}  // namespace

std::variant<json::value, IntakeError> parse_json_body(std::string_view text) {
  // The options and depth limit json::parse uses.
  json::basic_parser<CheckedHandler> parser{json::parse_options{}};
  json::error_code ec;
  const auto used = parser.write_some(false, text.data(), text.size(), ec);
  if (const auto& duplicate = parser.handler().duplicate()) return *duplicate;
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) {
    return make_error(ErrorCode::invalid_json, {},
                      fmt::format("request body is not valid JSON: {}", ec.message()), {});
  }
  return parser.handler().release();
}

}  // namespace purgeq
