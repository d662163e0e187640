// Loads purgeq's YAML config strictly: every problem is collected with its key path, then thrown.
#include "config/config.h"

#include <fmt/format.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

#include "model/ascii.h"
#include "model/hostname.h"

namespace purgeq {
namespace {

// A value, where it lives and where problems about it are reported. For a map entry the mark is
// the key's: a null or block value has no useful position of its own.
struct Field {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

// Problems with their document positions; sorted at the end so the caller can validate in
// whatever order the cross-references need and still report in reading order.
class Checker {
 public:
  void add(const YAML::Mark& mark, const std::string& path, std::string_view reason) {
    const bool known = !mark.is_null();
    problems_.push_back({known ? mark.line : INT_MAX, known ? mark.column : INT_MAX,
                         path.empty() ? std::string(reason) : fmt::format("{}: {}", path, reason)});
  }
  void add(const Field& field, std::string_view reason) { add(field.mark, field.path, reason); }

  [[nodiscard]] bool empty() const { return problems_.empty(); }

  [[nodiscard]] std::vector<std::string> take() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<std::string> out;
    out.reserve(problems_.size());
    for (auto& problem : problems_) out.push_back(std::move(problem.text));
    return out;
  }

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };
  std::vector<Problem> problems_;
};

// A mark after every real one, for problems about keys that are absent altogether.
YAML::Mark end_mark() {
  YAML::Mark mark;
  mark.pos = mark.line = mark.column = INT_MAX;
  return mark;
}

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

// Config values end up in one-line messages and logs: escape anything that could break a line.
std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 120;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch < 0x20 || ch == 0x7f) {
      out += fmt::format("\\x{:02x}", ch);
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (text.size() > kMax) out += "...";
  out += '"';
  return out;
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

// The closest candidate, if it is close enough to be a plausible typo (a third of the length),
// or else the only one the text abbreviates ("give_up" for "give_up_after").
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

// "a, b or c"
std::string list_words(const std::vector<std::string_view>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? last_sep : ", ";
    out += words[i];
  }
  return out;
}

// `unknown level "verbos" (did you mean "debug"?)` or `... (use debug, info or error)`.
std::string unknown_value(std::string_view what, std::string_view value,
                          const std::vector<std::string_view>& valid) {
  if (auto near = suggest(value, valid)) {
    return fmt::format("unknown {} {} (did you mean \"{}\"?)", what, quote(value), *near);
  }
  return fmt::format("unknown {} {} (use {})", what, quote(value), list_words(valid, " or "));
}

// The entries of one YAML map, checked against the keys the schema allows at that place.
class MapView {
 public:
  // `node` must be a map or null (an empty section, e.g. every child commented out).
  MapView(Checker& checker, const Field& map, std::initializer_list<std::string_view> known)
      : known_(known) {
    if (!map.node.IsMap()) return;
    // By value: yaml-cpp's iterator hands out proxies, so references into them would dangle.
    for (const auto& entry : map.node) {
      const YAML::Node key = entry.first;
      if (!key.IsScalar()) {
        checker.add(key.Mark(), map.path,
                    fmt::format("keys must be strings, got {}", describe(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      Field field{entry.second, join(map.path, name), key.Mark()};
      if (std::find(known_.begin(), known_.end(), name) == known_.end()) {
        if (auto near = suggest(name, known_)) {
          checker.add(field, fmt::format("unknown key (did you mean \"{}\"?)", *near));
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

  [[nodiscard]] std::optional<Field> get(std::string_view key) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  // Like get(), but an explicit null ("key:" with nothing after it) counts as absent.
  [[nodiscard]] std::optional<Field> get_present(std::string_view key) const {
    auto field = get(key);
    if (field && field->node.IsNull()) return std::nullopt;
    return field;
  }

 private:
  std::vector<std::string_view> known_;
  std::map<std::string, Field, std::less<>> entries_;
};

// True for a map, and for null when a missing section is allowed; otherwise reports the type.
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

// A non-empty scalar.
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

std::optional<Duration> read_duration(Checker& checker, const Field& field) {
  if (!field.node.IsScalar()) {
    checker.add(field,
                fmt::format("expected a duration like \"30s\", got {}", describe(field.node)));
    return std::nullopt;
  }
  auto value = parse_duration(field.node.Scalar());
  if (!value) {
    checker.add(field, fmt::format("invalid duration {} (use a number and ms, s, m or h)",
                                   quote(field.node.Scalar())));
  }
  return value;
}

// A positive duration, or nullopt after reporting why not.
std::optional<Duration> read_positive_duration(Checker& checker, const Field& field) {
  auto value = read_duration(checker, field);
  if (value && value->count() == 0) {
    checker.add(field, "must be greater than 0");
    return std::nullopt;
  }
  return value;
}

// Intake's rule (model/hostname.h), so no zone is configured for hosts intake would refuse.
bool is_hostname(std::string_view host) {
  return is_valid_hostname(host);
}

bool is_host_pattern(std::string_view pattern) {
  if (pattern.starts_with("*.")) pattern.remove_prefix(2);
  return is_hostname(pattern);
}

bool is_zone_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char ch) {
           return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
         });
}

void trim(std::string& text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto last = text.find_last_not_of(kSpace);
  if (last == std::string::npos) {
    text.clear();
    return;
  }
  text.erase(last + 1);
  text.erase(0, text.find_first_not_of(kSpace));
}

// Reads a small file; the error is strerror's text.
std::optional<std::string> read_small_file(const std::string& path, std::string& out,
                                           std::size_t limit) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::strerror(errno);
  out.clear();
  char buffer[4096];
  std::optional<std::string> error;
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file);
    out.append(buffer, n);
    if (out.size() > limit) {
      error = fmt::format("larger than {} bytes", limit);
      break;
    }
    if (n < sizeof buffer) {
      if (std::ferror(file)) error = std::strerror(errno);
      break;
    }
  }
  std::fclose(file);
  return error;
}

// Why `base` cannot be cloudflare.api_base, or nullopt: an absolute http(s) URL (RFC 3986, read by
// Boost.URL) with a host (a DNS name or an IP literal), an optional port 1-65535 and a path, and
// nothing curl would have to guess about: no whitespace, user info, query or fragment.
std::optional<std::string> api_base_problem(const std::string& base) {
  const std::string quoted = quote(base);
  if (std::any_of(base.begin(), base.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return u <= 0x20 || u == 0x7f;
      })) {
    return fmt::format("{} contains whitespace or control characters", quoted);
  }
  const auto parsed = boost::urls::parse_uri(base);
  const bool http = parsed && (parsed->scheme_id() == boost::urls::scheme::http ||
                               parsed->scheme_id() == boost::urls::scheme::https);
  if (!http) return fmt::format("must be an http:// or https:// URL, got {}", quoted);
  const auto& url = *parsed;
  if (!url.has_authority() || url.encoded_host().empty()) {
    return fmt::format("{} has no host", quoted);
  }
  if (url.has_userinfo()) {
    return fmt::format("{} must not contain user info (\"user@\"); the token authenticates",
                       quoted);
  }
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      break;
    case boost::urls::host_type::name:
      if (is_hostname(url.encoded_host())) break;  // percent-encoded hosts too: no guessing
      [[fallthrough]];
    default:
      return fmt::format("{} has an invalid host", quoted);
  }
  if (url.has_port()) {
    const std::string_view port = url.port();
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0 ||
        number > 65535) {
      return fmt::format("{} has an invalid port", quoted);
    }
  }
  if (url.has_query()) return fmt::format("{} must not have a query string", quoted);
  if (url.has_fragment()) return fmt::format("{} must not have a fragment", quoted);
  return std::nullopt;
}

// A token goes into an HTTP header: anything but visible ASCII would corrupt the request.
bool is_token_text(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
}

constexpr std::size_t kMaxTokenFile = std::size_t{64} * 1024;

struct TokenSource {
  std::string_view key;  // token_file, token_env or token_credential
  Field field;
  std::string value;  // the path, variable or credential name
};

// The token, or the reason it cannot be had. Never puts the token itself in the reason.
std::pair<std::string, std::string> resolve_token(const TokenSource& source) {
  std::string token;
  std::string where;  // how the token's origin is named in messages
  if (source.key == "token_env") {
    const char* value = std::getenv(source.value.c_str());
    if (value == nullptr) {
      return {"", fmt::format("environment variable {} is not set", source.value)};
    }
    token = value;
    trim(token);
    if (token.empty()) return {"", fmt::format("environment variable {} is empty", source.value)};
    where = fmt::format("environment variable {}", source.value);
  } else {
    std::string path = source.value;
    if (source.key == "token_credential") {
      if (source.value.find('/') != std::string::npos || source.value == "." ||
          source.value == "..") {
        return {"",
                fmt::format("{} is a path; give the credential's name (LoadCredential=NAME:...)",
                            quote(source.value))};
      }
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        return {"", "CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)"};
      }
      path = fmt::format("{}/{}", dir, source.value);
    }
    if (auto error = read_small_file(path, token, kMaxTokenFile)) {
      return {"", fmt::format("cannot read {}: {}", quote(path), *error)};
    }
    trim(token);
    if (token.empty()) return {"", fmt::format("{} is empty", quote(path))};
    where = quote(path);
  }
  if (!is_token_text(token)) {
    const bool non_ascii = std::any_of(
        token.begin(), token.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; });
    return {"", fmt::format("{} does not hold one token (it has {})", where,
                            non_ascii ? "non-ASCII characters" : "spaces or control characters")};
  }
  return {std::move(token), ""};
}

const std::vector<std::string_view>& plan_names() {
  static const std::vector<std::string_view> names{"free", "pro", "business", "enterprise"};
  return names;
}

// The loader proper: one instance per load, filling `config` and `checker`.
class Loader {
 public:
  Loader(Checker& checker, Config& config) : checker_(checker), config_(config) {}

  void load(const YAML::Node& root, const std::string& source_name) {
    if (!root.IsMap() && !root.IsNull()) {
      checker_.add(root.Mark(), source_name,
                   fmt::format("expected a map of settings, got {}", describe(root)));
      return;
    }
    const Field top{root, "", root.Mark()};
    const MapView view(checker_, top,
                       {"listen", "storage", "cloudflare", "dry_run", "accounts", "zones",
                        "batching", "retry", "log", "access", "intake", "admin"});
    // dry_run first: it decides whether a missing token is a problem.
    if (auto f = view.get("dry_run")) config_.dry_run = read_bool(checker_, *f).value_or(false);
    if (auto f = view.get("listen")) load_listen(*f);
    if (auto f = view.get("storage")) load_storage(*f);
    if (auto f = view.get("cloudflare")) load_cloudflare(*f);
    load_accounts(view.get("accounts"));
    load_zones(view.get("zones"));
    if (auto f = view.get("batching")) load_batching(*f);
    if (auto f = view.get("retry")) load_retry(*f);
    if (auto f = view.get("log")) load_log(*f);
    if (auto f = view.get("access")) load_access(*f);
    if (auto f = view.get("intake")) load_intake(*f);
    if (auto f = view.get("admin")) load_admin(*f);
  }

 private:
  void load_listen(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"socket", "mode", "group"});
    if (auto f = view.get("socket")) {
      if (auto socket = read_string(checker_, *f)) {
        // sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
        if (socket->size() > 107) {
          checker_.add(*f, fmt::format("path is {} bytes; a Unix socket path allows at most 107",
                                       socket->size()));
        } else {
          config_.listen.socket = *socket;
        }
      }
    }
    if (auto f = view.get("mode")) load_mode(*f);
    if (auto f = view.get("group")) {
      if (auto group = read_string(checker_, *f)) config_.listen.group = *group;
    }
  }

  // Always octal, as chmod reads it: "0660", "660", an unquoted 0660 and YAML 1.2's 0o660 all
  // mean rw-rw----. A decimal reading of an unquoted 0660 would silently give 01224.
  void load_mode(const Field& field) {
    if (!field.node.IsScalar()) {
      checker_.add(
          field, fmt::format("expected an octal mode like \"0660\", got {}", describe(field.node)));
      return;
    }
    std::string_view text = field.node.Scalar();
    if (text.starts_with("0o") || text.starts_with("0O")) text.remove_prefix(2);
    unsigned mode = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      checker_.add(field, fmt::format("invalid mode {} (use octal digits like \"0660\")",
                                      quote(field.node.Scalar())));
    } else if (mode > 0777) {
      checker_.add(field, fmt::format("must be at most 0777, got {}", quote(field.node.Scalar())));
    } else {
      config_.listen.mode = mode;
    }
  }

  void load_storage(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"path", "max_pending_items", "max_size_mb"});
    if (auto f = view.get("path")) {
      if (auto path = read_string(checker_, *f)) config_.storage.path = *path;
    }
    if (auto f = view.get("max_pending_items")) {
      if (auto value = read_int(checker_, *f)) {
        if (*value < 1) {
          checker_.add(*f, fmt::format("must be at least 1, got {}", *value));
        } else {
          config_.storage.max_pending_items = *value;
        }
      }
    }
    if (auto f = view.get("max_size_mb")) {
      if (auto value = read_int(checker_, *f)) {
        if (*value < 0) {
          checker_.add(*f, fmt::format("must be 0 (no limit) or more, got {}", *value));
        } else {
          config_.storage.max_size_mb = *value;
        }
      }
    }
  }

  void load_cloudflare(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"api_base", "timeout"});
    if (auto f = view.get("api_base")) {
      if (auto base = read_string(checker_, *f)) {
        if (auto problem = api_base_problem(*base)) {
          checker_.add(*f, *problem);
        } else {
          while (base->ends_with('/')) base->pop_back();
          config_.cloudflare.api_base = *base;
        }
      }
    }
    if (auto f = view.get("timeout")) {
      if (auto timeout = read_positive_duration(checker_, *f)) {
        config_.cloudflare.timeout = *timeout;
      }
    }
  }

  void load_accounts(const std::optional<Field>& section) {
    if (!section || section->node.IsNull()) {
      const YAML::Mark mark = section ? section->mark : end_mark();
      checker_.add(mark, "accounts", "at least one account is required");
      return;
    }
    if (!expect_list(checker_, *section)) {
      accounts_unusable_ = true;
      return;
    }
    if (section->node.size() == 0) {
      checker_.add(*section, "at least one account is required");
      return;
    }
    for (const auto& item : items(*section)) load_account(item);
  }

  void load_account(const Field& item) {
    const std::size_t index = config_.accounts.size();
    config_.accounts.emplace_back();
    Account& account = config_.accounts.back();
    if (!expect_map(checker_, item, false)) return;
    const MapView view(checker_, item,
                       {"name", "plan", "limits", "token_file", "token_env", "token_credential"});

    if (auto f = view.get("name")) {
      if (auto name = read_string(checker_, *f)) {
        account.name = *name;
        const auto [it, fresh] = account_index_.emplace(*name, index);
        if (!fresh) {
          checker_.add(*f, fmt::format("duplicate account {} (also accounts[{}])", quote(*name),
                                       it->second));
        }
      }
    } else {
      checker_.add(item.mark, join(item.path, "name"), "required");
    }

    if (auto f = view.get("plan")) {
      if (auto name = read_string(checker_, *f)) {
        if (auto plan = plan_from_string(*name)) {
          account.plan = *plan;
        } else {
          checker_.add(*f, unknown_value("plan", *name, plan_names()));
        }
      }
    } else {
      // No default on purpose: a wrong guess would silently pace too fast (429s) or too slow.
      checker_.add(item.mark, join(item.path, "plan"),
                   fmt::format("required ({})", list_words(plan_names(), " or ")));
    }
    account.limits = limits_for_plan(account.plan);
    if (auto f = view.get("limits")) load_limits(*f, account.limits);

    load_token(item, view, account);
  }

  void load_limits(const Field& section, Limits& limits) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(
        checker_, section,
        {"requests_per_second", "burst", "urls_per_second", "max_ops_per_request",
         "max_urls_per_request", "global_requests", "global_window", "max_in_flight"});
    const auto rate = [&](std::string_view key, double& out, double min, bool inclusive) {
      const auto f = view.get(key);
      if (!f) return;
      const auto value = read_number(checker_, *f);
      if (!value) return;
      if (inclusive ? *value < min : *value <= min) {
        checker_.add(
            *f, fmt::format("must be {} {}, got {}", inclusive ? "at least" : "greater than", min,
                            f->node.Scalar()));
        return;
      }
      out = *value;
    };
    const auto count = [&](std::string_view key, int& out, long long min, long long max) {
      const auto f = view.get(key);
      if (!f) return;
      const auto value = read_int(checker_, *f);
      if (!value) return;
      if (*value < min || *value > max) {
        if (max == INT_MAX) {
          checker_.add(*f, fmt::format("must be at least {}, got {}", min, *value));
        } else {
          checker_.add(*f, fmt::format("must be between {} and {}, got {}", min, max, *value));
        }
        return;
      }
      out = static_cast<int>(*value);
    };
    rate("requests_per_second", limits.requests_per_second, 0, false);
    rate("burst", limits.burst, 1, true);
    rate("urls_per_second", limits.urls_per_second, 0, false);
    count("max_ops_per_request", limits.max_ops_per_request, 1, 1000);
    count("max_urls_per_request", limits.max_urls_per_request, 1, INT_MAX);
    count("global_requests", limits.global_requests, 0, INT_MAX);
    count("max_in_flight", limits.max_in_flight, 1, 64);
    if (auto f = view.get("global_window")) {
      if (auto window = read_positive_duration(checker_, *f)) limits.global_window = *window;
    }
  }

  void load_token(const Field& item, const MapView& view, Account& account) {
    std::vector<TokenSource> sources;
    for (const std::string_view key : {"token_file", "token_env", "token_credential"}) {
      if (auto f = view.get(key)) sources.push_back({key, *f, ""});
    }
    std::stable_sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
      return std::pair(a.field.mark.line, a.field.mark.column) <
             std::pair(b.field.mark.line, b.field.mark.column);
    });
    if (sources.empty()) {
      if (!config_.dry_run) {
        checker_.add(item, "no token (set token_file, token_env or token_credential)");
      }
      return;
    }
    bool ok = true;
    for (std::size_t i = 1; i < sources.size(); ++i) {
      checker_.add(sources[i].field,
                   fmt::format("conflicts with {} (set only one token source)", sources[0].key));
      ok = false;
    }
    auto& source = sources[0];
    if (auto value = read_string(checker_, source.field)) {
      source.value = *value;
    } else {
      ok = false;
    }
    if (!ok) return;
    account.token_source = fmt::format("{} {}", source.key, source.value);
    auto [token, error] = resolve_token(source);
    // A dry run sends nothing, so it may run where the secret is not deployed.
    if (!error.empty() && !config_.dry_run) checker_.add(source.field, error);
    account.token = std::move(token);
  }

  void load_zones(const std::optional<Field>& section) {
    if (!section || section->node.IsNull()) {
      const YAML::Mark mark = section ? section->mark : end_mark();
      checker_.add(mark, "zones", "at least one zone is required");
      return;
    }
    if (!expect_list(checker_, *section)) return;
    if (section->node.size() == 0) {
      checker_.add(*section, "at least one zone is required");
      return;
    }
    std::map<std::string, std::size_t> names;
    std::map<std::string, std::size_t> ids;
    std::map<std::string, std::size_t> host_owner;
    for (const auto& item : items(*section)) {
      const std::size_t index = config_.zones.size();
      config_.zones.emplace_back();
      Zone& zone = config_.zones.back();
      if (!expect_map(checker_, item, false)) continue;
      const MapView view(checker_, item, {"name", "id", "account", "hosts"});

      bool name_ok = false;
      if (auto f = view.get("name")) {
        if (auto name = read_string(checker_, *f)) {
          zone.name = ascii_lower(*name);
          if (!is_hostname(zone.name)) {
            checker_.add(*f, fmt::format("{} is not a valid hostname", quote(*name)));
          } else if (const auto [it, fresh] = names.emplace(zone.name, index); !fresh) {
            checker_.add(*f, fmt::format("duplicate zone {} (also zones[{}])", quote(zone.name),
                                         it->second));
          } else {
            name_ok = true;
          }
        }
      } else {
        checker_.add(item.mark, join(item.path, "name"), "required");
      }

      if (auto f = view.get("id")) {
        if (auto id = read_string(checker_, *f)) {
          zone.id = *id;
          if (!is_zone_id(*id)) {
            checker_.add(*f, "must be 32 lowercase hex characters (the zone id, not its name)");
          } else if (const auto [it, fresh] = ids.emplace(*id, index); !fresh) {
            checker_.add(
                *f, fmt::format("duplicate zone id {} (also zones[{}])", quote(*id), it->second));
          }
        }
      } else {
        checker_.add(item.mark, join(item.path, "id"), "required (the zone's 32-character id)");
      }

      if (auto f = view.get("account")) {
        if (auto account = read_string(checker_, *f)) {
          zone.account = *account;
          if (auto it = account_index_.find(*account); it != account_index_.end()) {
            zone.account_index = it->second;
          } else if (!accounts_unusable_) {
            checker_.add(*f, fmt::format("unknown account {}", quote(*account)));
          }
        }
      } else {
        checker_.add(item.mark, join(item.path, "account"), "required");
      }

      if (auto f = view.get_present("hosts")) {
        if (expect_list(checker_, *f)) {
          for (const auto& host : items(*f)) {
            auto pattern = read_string(checker_, host);
            if (!pattern) continue;
            const std::string folded = ascii_lower(*pattern);
            if (!is_host_pattern(folded)) {
              checker_.add(host, fmt::format("{} is not a hostname or \"*.\" and a hostname",
                                             quote(*pattern)));
              continue;
            }
            if (std::find(zone.hosts.begin(), zone.hosts.end(), folded) != zone.hosts.end()) {
              continue;
            }
            // Two zones claiming one host would make routing by host a coin toss.
            if (const auto [it, fresh] = host_owner.emplace(folded, index); !fresh) {
              checker_.add(host, fmt::format("host {} is already claimed by zones[{}]",
                                             quote(folded), it->second));
              continue;
            }
            zone.hosts.push_back(folded);
          }
        }
      } else if (name_ok) {
        for (auto host : {zone.name, "*." + zone.name}) {
          if (const auto [it, fresh] = host_owner.emplace(host, index); !fresh) {
            checker_.add(item.mark, join(item.path, "hosts"),
                         fmt::format("default host {} is already claimed by zones[{}]", quote(host),
                                     it->second));
            continue;
          }
          zone.hosts.push_back(host);
        }
      }
    }
  }

  void load_batching(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"linger"});
    if (auto f = view.get("linger")) {
      // 0 is valid: send as soon as anything is pending.
      if (auto linger = read_duration(checker_, *f)) config_.batching.linger = *linger;
    }
  }

  void load_retry(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"initial", "max", "give_up_after"});
    const auto initial = view.get("initial");
    const auto max = view.get("max");
    bool ok = true;
    if (initial) {
      auto value = read_positive_duration(checker_, *initial);
      ok = ok && value;
      if (value) config_.retry.initial = *value;
    }
    if (max) {
      auto value = read_positive_duration(checker_, *max);
      ok = ok && value;
      if (value) config_.retry.max = *value;
    }
    if (ok && config_.retry.max < config_.retry.initial) {
      if (max) {
        checker_.add(*max, fmt::format("must be at least retry.initial ({})",
                                       format_duration(config_.retry.initial)));
      } else {
        checker_.add(*initial, fmt::format("must be at most retry.max ({}, the default)",
                                           format_duration(config_.retry.max)));
      }
    }
    if (auto f = view.get("give_up_after")) {
      if (auto value = read_positive_duration(checker_, *f)) config_.retry.give_up_after = *value;
    }
  }

  void load_log(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"level"});
    if (auto f = view.get("level")) {
      if (auto name = read_string(checker_, *f)) {
        if (auto level = log_level_from_string(*name)) {
          config_.log.level = *level;
        } else {
          checker_.add(*f, unknown_value("level", *name, log_level_names()));
        }
      }
    }
  }

  void load_intake(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section,
                       {"max_items_per_intent", "max_connections", "max_connections_per_uid"});
    const auto at_least_one = [&](std::string_view key, long long& out) {
      if (auto f = view.get(key)) {
        if (auto value = read_int(checker_, *f)) {
          if (*value < 1) {
            checker_.add(*f, fmt::format("must be at least 1, got {}", *value));
          } else {
            out = *value;
          }
        }
      }
    };
    at_least_one("max_items_per_intent", config_.intake.max_items_per_intent);
    at_least_one("max_connections", config_.intake.max_connections);
    at_least_one("max_connections_per_uid", config_.intake.max_connections_per_uid);
  }

  void load_admin(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"users", "groups"});
    config_.admin.configured = true;
    for_each_string(view, "users", [&](const Field&, const std::string& user) {
      config_.admin.users.push_back(user);
    });
    for_each_string(view, "groups", [&](const Field&, const std::string& group) {
      config_.admin.groups.push_back(group);
    });
  }

  void load_access(const Field& section) {
    if (section.node.IsNull()) return;
    if (!expect_list(checker_, section)) return;
    for (const auto& item : items(section)) {
      AccessRule rule;
      rule.name = item.path;
      if (!expect_map(checker_, item, false)) continue;
      const MapView view(checker_, item, {"name", "zones", "kinds", "users", "groups"});
      if (auto f = view.get("name")) {
        if (auto name = read_string(checker_, *f)) rule.name = *name;
      }
      for_each_string(view, "zones", [&](const Field& f, const std::string& zone) {
        if (const Zone* found = config_.find_zone(ascii_lower(zone))) {
          rule.zones.push_back(found->name);  // ids accepted, names stored: rules match by name
        } else {
          checker_.add(f, fmt::format("unknown zone {}", quote(zone)));
        }
      });
      for_each_string(view, "kinds", [&](const Field& f, const std::string& name) {
        if (auto kind = kind_from_string(name)) {
          rule.kinds.push_back(*kind);
        } else {
          checker_.add(
              f, unknown_value("kind", name, {"file", "tag", "host", "prefix", "everything"}));
        }
      });
      for_each_string(view, "users",
                      [&](const Field&, const std::string& user) { rule.users.push_back(user); });
      for_each_string(view, "groups", [&](const Field&, const std::string& group) {
        rule.groups.push_back(group);
      });
      // A rule nobody matches would deny its zones and kinds to everyone: surely not meant.
      const auto has_entries = [&](std::string_view key) {
        const auto f = view.get(key);
        return f && f->node.IsSequence() && f->node.size() > 0;
      };
      const auto malformed = [&](std::string_view key) {
        const auto f = view.get(key);
        return f && !f->node.IsSequence();
      };
      if (!has_entries("users") && !has_entries("groups") && !malformed("users") &&
          !malformed("groups")) {
        checker_.add(item, "needs users or groups (who the rule allows)");
      }
      config_.access.push_back(std::move(rule));
    }
  }

  template <class Fn>
  void for_each_string(const MapView& view, std::string_view key, Fn fn) {
    const auto list = view.get(key);
    if (!list || !expect_list(checker_, *list)) return;
    for (const auto& entry : items(*list)) {
      if (auto value = read_string(checker_, entry)) fn(entry, *value);
    }
  }

  Checker& checker_;
  Config& config_;
  std::map<std::string, std::size_t, std::less<>> account_index_;
  bool accounts_unusable_ = false;  // `accounts` is not a list: don't cascade into zones
};

}  // namespace

Limits limits_for_plan(Plan plan) {
  Limits limits;
  limits.max_ops_per_request = 100;
  limits.max_urls_per_request = 100;
  limits.global_requests = 1200;
  limits.global_window = std::chrono::minutes(5);
  limits.max_in_flight = 4;
  switch (plan) {
    case Plan::free:
      limits.requests_per_second = 5.0 / 60.0;  // 5 per minute
      limits.burst = 25;
      limits.urls_per_second = 800;
      break;
    case Plan::pro:
      limits.requests_per_second = 5;
      limits.burst = 25;
      limits.urls_per_second = 1500;
      break;
    case Plan::business:
      limits.requests_per_second = 10;
      limits.burst = 50;
      limits.urls_per_second = 1500;
      break;
    case Plan::enterprise:
      limits.requests_per_second = 50;
      limits.burst = 500;
      limits.urls_per_second = 3000;
      limits.max_urls_per_request = 500;
      break;
  }
  return limits;
}

std::string_view to_string(Plan plan) {
  return plan_names().at(static_cast<std::size_t>(plan));
}

std::optional<Plan> plan_from_string(std::string_view name) {
  const auto& names = plan_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<Plan>(it - names.begin());
}

const Zone* Config::find_zone(std::string_view name_or_id) const {
  for (const auto& zone : zones) {
    if (zone.name == name_or_id || zone.id == name_or_id) return &zone;
  }
  return nullptr;
}

namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

std::optional<Duration> parse_duration(std::string_view text) {
  std::int64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [unit_begin, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || unit_begin == begin || number < 0 || *begin == '-') return std::nullopt;
  const std::string_view unit(unit_begin, static_cast<std::size_t>(end - unit_begin));
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = Duration(std::chrono::seconds(1)).count();
  } else if (unit == "m") {
    scale = Duration(std::chrono::minutes(1)).count();
  } else if (unit == "h") {
    scale = Duration(std::chrono::hours(1)).count();
  } else {
    return std::nullopt;
  }
  if (number > std::numeric_limits<Duration::rep>::max() / scale) return std::nullopt;
  return Duration(number * scale);
}

std::string format_duration(Duration duration) {
  const auto ms = duration.count();
  constexpr std::int64_t kHour = Duration(std::chrono::hours(1)).count();
  constexpr std::int64_t kMinute = Duration(std::chrono::minutes(1)).count();
  if (ms != 0 && ms % kHour == 0) return fmt::format("{}h", ms / kHour);
  if (ms != 0 && ms % kMinute == 0) return fmt::format("{}m", ms / kMinute);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
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

}  // namespace

Config load_config_string(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node document;
  try {
    document = YAML::Load(yaml_text);
    if (has_second_document(yaml_text)) {
      throw ConfigError({fmt::format("{}: expected one YAML document, found more", source_name)});
    }
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) throw ConfigError({fmt::format("{}: {}", source_name, e.msg)});
    throw ConfigError(
        {fmt::format("{}:{}:{}: {}", source_name, e.mark.line + 1, e.mark.column + 1, e.msg)});
  }
  Config config;
  Checker checker;
  Loader(checker, config).load(document, source_name);
  if (!checker.empty()) throw ConfigError(checker.take());
  return config;
}

Config load_config_file(const std::string& path) {
  std::string text;
  // The limit only guards against pointing --config at something like /dev/zero.
  if (auto error = read_small_file(path, text, std::size_t{16} * 1024 * 1024)) {
    throw ConfigError({fmt::format("{}: cannot read: {}", path, *error)});
  }
  return load_config_string(text, path);
}

}  // namespace purgeq
