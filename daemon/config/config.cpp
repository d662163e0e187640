// Loads purgeq's YAML config strictly (strict_yaml.h): the schema, its cross-references (zones
// name accounts, access rules name zones) and the values only purgeq gives meaning to.
#include "config/config.h"

#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <climits>
#include <map>
#include <utility>

#include "config/duration_yaml.h"
#include "config/secrets.h"
#include "config/strict_yaml.h"
#include "config/variants_yaml.h"
#include "model/ascii.h"
#include "model/hostname.h"

namespace purgeq {

std::string this_host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "purgeqd";
  return name.data();
}

namespace {

// Whether a libpq connection string (key=value words or a postgres:// URI) names a password:
// `password=` as a keyword or URI parameter, or `user:password@` in the URI's authority.
bool dsn_has_password(std::string_view dsn) {
  const auto uri = dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
  if (uri) {
    const auto authority_start = dsn.find("://") + 3;
    const auto authority_end = std::min(dsn.find_first_of("/?", authority_start), dsn.size());
    const auto authority = dsn.substr(authority_start, authority_end - authority_start);
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos &&
        authority.substr(0, at).find(':') != std::string_view::npos) {
      return true;
    }
    const auto query = dsn.find('?');
    if (query == std::string_view::npos) return false;
    for (auto at_param = query; at_param != std::string_view::npos;
         at_param = dsn.find('&', at_param + 1)) {
      if (dsn.substr(at_param + 1).starts_with("password=")) return true;
    }
    return false;
  }
  // key = value words: a `password` keyword at the start of a word, spaces allowed before '='.
  for (std::size_t at = dsn.find("password"); at != std::string_view::npos;
       at = dsn.find("password", at + 1)) {
    if (at > 0 && dsn[at - 1] != ' ' && dsn[at - 1] != '\t' && dsn[at - 1] != '\n') continue;
    auto next = at + 8;
    while (next < dsn.size() && (dsn[next] == ' ' || dsn[next] == '\t')) ++next;
    if (next < dsn.size() && dsn[next] == '=') return true;
  }
  return false;
}

using namespace strict_yaml;

constexpr std::size_t kMinClientTokenLength = 24;
// Each connection is a descriptor; far more than this is a typo, not a plan.
constexpr long long kMaxTcpConnections = 16384;

// `tcp.listen`: "8787" (loopback), "127.0.0.1:8787", "[::1]:8787" or "0.0.0.0:8787". Only IP
// addresses: a name would be resolved once at start, and which address it picked would surprise.
std::optional<std::string> parse_tcp_listen(const std::string& text, Config::Tcp& tcp) {
  std::string host = "127.0.0.1";
  std::string_view port_text = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = std::string_view(text).substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
      return fmt::format("{}: write an IPv6 address in brackets, as \"[::1]:8787\"", quote(text));
    }
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    return fmt::format(
        "{}: expected a port (1-65535), optionally after an IP address, as "
        "\"127.0.0.1:8787\"",
        quote(text));
  }
  boost::system::error_code bad;
  boost::asio::ip::make_address(host, bad);
  if (bad) {
    return fmt::format("{}: {} is not an IP address (names are not resolved here)", quote(text),
                       quote(host));
  }
  tcp.address = host;
  tcp.port = static_cast<unsigned short>(port);
  return std::nullopt;
}

// Intake's rule (model/hostname.h), so no zone is configured for hosts intake would refuse.
bool is_hostname(std::string_view host) {
  return is_valid_hostname(host);
}

bool is_host_pattern(std::string_view pattern) {
  if (pattern.starts_with("*.")) pattern.remove_prefix(2);
  return is_hostname(pattern);
}

// The largest escalate.min_urls: a check counts at most this many pending URLs per prefix
// (planner/escalation.h's kEscalationPendingCap; config may not include the planner).
constexpr long long kMaxEscalationMinUrls = 5000;

// Does `host` match one of a zone's host patterns ("example.com", "*.example.com")?
bool zone_owns_host(const Zone& zone, std::string_view host) {
  return std::any_of(zone.hosts.begin(), zone.hosts.end(), [host](const std::string& pattern) {
    if (pattern.starts_with("*.")) {
      const std::string_view parent = std::string_view(pattern).substr(1);  // ".example.com"
      return host.size() > parent.size() && host.ends_with(parent);
    }
    return host == pattern;
  });
}

// Why `prefix` cannot be an escalation prefix of `zone`, or nullopt. The rules Cloudflare sets
// for prefixes (reference §4.1: host + path, no scheme, no query, at most 31 slashes) and the
// zone's own hosts, so an escalation never purges outside its zone.
std::optional<std::string> escalation_prefix_problem(std::string_view prefix, const Zone& zone) {
  if (prefix.find("://") != std::string_view::npos) {
    return "a prefix is a host and a path without a scheme (\"www.example.com/blog/\")";
  }
  if (prefix.find_first_of("?#") != std::string_view::npos) {
    return "a prefix with a query or fragment matches nothing at Cloudflare";
  }
  if (std::count(prefix.begin(), prefix.end(), '/') > 31) {
    return "Cloudflare takes at most 31 slashes in a prefix";
  }
  const auto slash = std::min(prefix.find('/'), prefix.size());
  const std::string host = ascii_lower(prefix.substr(0, slash));
  if (!is_hostname(host)) return fmt::format("{} is not a valid hostname", quote(host));
  if (!zone.hosts.empty() && !zone_owns_host(zone, host)) {
    return fmt::format("host {} is not one of this zone's hosts", quote(host));
  }
  return std::nullopt;
}

bool is_zone_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char ch) {
           return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
         });
}

// config/purgeq.yaml ships Cloudflare's documentation zone id and example.com for the admin to
// replace. Started on them, the daemon would only collect API errors for every purge.
constexpr std::string_view kSampleZoneId = "023e105f4ecef8ad9ca31a8372d0c353";

// The names RFC 2606 reserves for examples: no one's Cloudflare zone.
bool is_placeholder_zone_name(std::string_view name) {
  return name == "example.com" || name == "example.net" || name == "example.org";
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

// One of an account's token keys, as written.
struct TokenSetting {
  std::string_view key;  // token_file, token_env or token_credential
  TokenOrigin origin;
  Field field;
  std::string value;  // the path, variable or credential name
};

// The loader proper: one instance per load, filling `config` and `checker`.
class Loader {
 public:
  Loader(Checker& checker, Config& config, bool checking, bool placeholders)
      : checker_(checker), config_(config), checking_(checking), placeholders_(placeholders) {}

  void load(const YAML::Node& root, const std::string& source_name) {
    if (!root.IsMap() && !root.IsNull()) {
      checker_.add(root.Mark(), source_name,
                   fmt::format("expected a map of settings, got {}", describe(root)));
      return;
    }
    const Field top{root, "", root.Mark()};
    const MapView view(
        checker_, top,
        {"listen", "storage", "cloudflare", "dry_run", "accounts", "zones", "batching", "retry",
         "log", "access", "intake", "admin", "tcp", "api_clients", "hooks", "metrics"});
    // dry_run first: it decides whether a missing token is a problem.
    if (auto f = view.get("dry_run")) config_.dry_run = read_bool(checker_, *f).value_or(false);
    if (auto f = view.get("listen")) load_listen(*f);
    if (auto f = view.get("storage")) load_storage(*f);
    if (auto f = view.get("cloudflare")) load_cloudflare(*f);
    // A misspelled section ("acounts:") is reported as such, not again as missing.
    if (view.misspelled("accounts")) {
      accounts_unusable_ = true;  // zones' accounts cannot be checked against it either
    } else {
      load_accounts(view.get("accounts"));
    }
    if (!view.misspelled("zones")) load_zones(view.get("zones"));
    if (auto f = view.get("batching")) load_batching(*f);
    if (auto f = view.get("retry")) load_retry(*f);
    if (auto f = view.get("log")) load_log(*f);
    if (auto f = view.get("access")) load_access(*f);
    if (auto f = view.get("intake")) load_intake(*f);
    if (auto f = view.get("admin")) load_admin(*f);
    if (auto f = view.get("hooks")) load_hooks(checker_, *f, config_.zones, config_.hooks);
    if (auto f = view.get("metrics")) load_metrics(*f);
    const auto tcp = view.get("tcp");
    if (tcp) load_tcp(*tcp);
    const auto clients = view.get("api_clients");
    if (clients) load_api_clients(*clients);
    // Each without the other is a listener nobody may use, or clients that cannot connect.
    if (tcp && config_.tcp.enabled && config_.api_clients.empty()) {
      checker_.add(*tcp, "tcp.listen is set but api_clients is empty: nobody could use it");
    }
    // A malformed tcp.listen already has its own error.
    if (clients && !config_.api_clients.empty() && !tcp_listen_given_) {
      checker_.add(*clients,
                   "api_clients are configured but tcp.listen is not: they could not "
                   "connect");
    }
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
    const MapView view(checker_, section,
                       {"backend", "path", "dsn", "password_file", "password_credential", "node",
                        "max_pending_items", "max_size_mb"});
    if (auto f = view.get("backend")) {
      if (auto backend = read_string(checker_, *f)) {
        if (*backend == "sqlite") {
          config_.storage.backend = Config::Storage::Backend::sqlite;
        } else if (*backend == "postgres") {
          config_.storage.backend = Config::Storage::Backend::postgres;
        } else {
          checker_.add(*f,
                       fmt::format("unknown backend {} (use sqlite or postgres)", quote(*backend)));
        }
      }
    }
    if (auto f = view.get("path")) {
      if (auto path = read_string(checker_, *f)) config_.storage.path = *path;
    }
    if (auto f = view.get("dsn")) {
      if (auto dsn = read_string(checker_, *f)) {
        if (dsn_has_password(*dsn)) {
          checker_.add(*f,
                       "carries a password; a password must not be in the YAML: use "
                       "storage.password_file, a systemd credential "
                       "(storage.password_credential) or PGPASSFILE");
        } else {
          config_.storage.dsn = *dsn;
        }
      }
    }
    if (auto f = view.get("password_file")) {
      if (auto path = read_string(checker_, *f)) {
        if (path->empty() || path->front() != '/') {
          checker_.add(*f, "must be an absolute path");
        } else {
          config_.storage.password_file = *path;
        }
      }
    }
    if (auto f = view.get("password_credential")) {
      if (auto name = read_string(checker_, *f)) {
        if (name->empty() || name->find('/') != std::string::npos) {
          checker_.add(*f, "must be a credential name (no slash), as in LoadCredential=");
        } else {
          config_.storage.password_credential = *name;
        }
      }
    }
    if (auto f = view.get("node")) {
      if (auto node = read_string(checker_, *f)) {
        if (node->empty() || node->size() > 100 ||
            std::any_of(node->begin(), node->end(),
                        [](unsigned char c) { return c < 0x21 || c > 0x7e; })) {
          checker_.add(*f, "must be 1 to 100 printable ASCII characters without spaces");
        } else {
          config_.storage.node = *node;
        }
      }
    }
    const bool postgres = config_.storage.backend == Config::Storage::Backend::postgres;
    if (postgres && config_.storage.dsn.empty() && !view.get("dsn")) {
      checker_.add(section, "storage.backend is postgres but storage.dsn is not set");
    }
    if (!config_.storage.password_file.empty() && !config_.storage.password_credential.empty()) {
      checker_.add(section,
                   "storage.password_file and storage.password_credential are both set; use one");
    }
    if (!postgres &&
        (view.get("dsn") || view.get("password_file") || view.get("password_credential"))) {
      checker_.add(section,
                   "storage.dsn and its password apply to storage.backend postgres only "
                   "(the backend is sqlite)");
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
    } else if (!view.misspelled("name")) {
      checker_.add(item.mark, join(item.path, "name"), "required");
    }

    if (auto f = view.get("plan")) {
      if (auto name = read_string(checker_, *f)) {
        if (auto plan = plan_from_string(*name)) {
          account.plan_setting = *plan;
        } else {
          checker_.add(*f, unknown_value("plan", *name, plan_names()));
        }
      }
    } else if (!view.misspelled("plan") && !config_.dry_run) {
      // Not guessed: the plan Cloudflare reports for the account's zones, once looked up.
      checker_.note(item.mark, join(item.path, "plan"),
                    "not set; follows the plan Cloudflare reports for the account's zones "
                    "(purgeqd --check-config --online shows it)");
    }
    if (auto f = view.get("limits")) load_limits(*f, account.limit_overrides);
    if (account.plan_setting) {
      account.plan = *account.plan_setting;
      account.plan_source = PlanSource::config;
    }
    account.limits = limits_for_plan(account.plan, account.limit_overrides);

    load_token(item, view, account.token_source, account.token, !config_.dry_run);
  }

  void load_limits(const Field& section, LimitOverrides& limits) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(
        checker_, section,
        {"requests_per_second", "burst", "urls_per_second", "max_ops_per_request",
         "max_urls_per_request", "global_requests", "global_window", "max_in_flight"});
    const auto rate = [&](std::string_view key, std::optional<double>& out, double min,
                          bool inclusive) {
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
    const auto count = [&](std::string_view key, std::optional<int>& out, long long min,
                           long long max) {
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

  // `needed`: a missing or unreadable token is an error (a dry run sends nothing, so an account
  // may run where its secret is not deployed; an API client's token is needed to let it in).
  void load_token(const Field& item, const MapView& view, std::string& token_source,
                  std::string& token, bool needed) {
    static constexpr std::pair<std::string_view, TokenOrigin> kKeys[] = {
        {"token_file", TokenOrigin::file},
        {"token_env", TokenOrigin::env},
        {"token_credential", TokenOrigin::credential}};
    std::vector<TokenSetting> sources;
    for (const auto& [key, origin] : kKeys) {
      if (auto f = view.get(key)) sources.push_back({key, origin, *f, ""});
    }
    std::stable_sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
      return std::pair(a.field.mark.line, a.field.mark.column) <
             std::pair(b.field.mark.line, b.field.mark.column);
    });
    if (sources.empty()) {
      // "tokenfile:" was reported as a likely token_file: "no token" would only repeat it.
      const bool misspelled = std::any_of(std::begin(kKeys), std::end(kKeys),
                                          [&](const auto& k) { return view.misspelled(k.first); });
      if (needed && !misspelled) {
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
    token_source = fmt::format("{} {}", source.key, source.value);
    auto lookup = resolve_token(source.origin, source.value);
    if (!lookup.problem.empty() && needed) {
      // The check may run where the daemon's runtime is not (an admin's shell, CI): what only
      // that runtime provides cannot be judged here, but a file the check can read can.
      if (checking_ && !lookup.runtime_only.empty()) {
        checker_.note(source.field, fmt::format("resolved at start from {}", lookup.runtime_only));
      } else {
        checker_.add(source.field, lookup.problem);
      }
    }
    token = std::move(lookup.token);
  }

  void load_tcp(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"listen", "max_connections"});
    if (auto f = view.get("listen")) {
      tcp_listen_given_ = true;
      if (auto text = read_string(checker_, *f)) {
        if (auto problem = parse_tcp_listen(*text, config_.tcp)) {
          checker_.add(*f, *problem);
        } else {
          config_.tcp.enabled = true;
        }
      }
    }
    if (auto f = view.get("max_connections")) {
      if (auto value = read_int(checker_, *f)) {
        if (*value < 1 || *value > kMaxTcpConnections) {
          checker_.add(*f,
                       fmt::format("must be between 1 and {}, got {}", kMaxTcpConnections, *value));
        } else {
          config_.tcp.max_connections = *value;
        }
      }
    }
  }

  // `metrics.listen` as `tcp.listen` is read; a token, when one is given, as a client's.
  void load_metrics(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section,
                       {"listen", "token_file", "token_env", "token_credential"});
    auto& metrics = config_.metrics;
    const auto listen = view.get("listen");
    if (listen) {
      if (auto text = read_string(checker_, *listen)) {
        Config::Tcp where;
        if (auto problem = parse_tcp_listen(*text, where)) {
          checker_.add(*listen, *problem);
        } else {
          metrics.enabled = true;
          metrics.address = where.address;
          metrics.port = where.port;
        }
      }
    }
    const bool token_given =
        view.get("token_file") || view.get("token_env") || view.get("token_credential");
    if (!token_given) return;
    if (!listen) {
      checker_.add(section,
                   "a metrics token is set but metrics.listen is not: nobody could use it");
    }
    // Given, the token is needed: a missing file must not leave the port open to everyone.
    load_token(section, view, metrics.token_source, metrics.token, true);
    if (!metrics.token.empty() && metrics.token.size() < kMinClientTokenLength) {
      checker_.add(section,
                   fmt::format("the token from {} has {} characters; a metrics token "
                               "needs at least {} (e.g. openssl rand -hex 20)",
                               metrics.token_source, metrics.token.size(), kMinClientTokenLength));
    }
  }

  void load_api_clients(const Field& section) {
    if (section.node.IsNull()) return;
    if (!expect_list(checker_, section)) return;
    for (const auto& item : items(section)) {
      if (!expect_map(checker_, item, false)) continue;
      const MapView view(checker_, item,
                         {"name", "zones", "kinds", "token_file", "token_env", "token_credential",
                          "priority", "scopes"});
      ApiClient client;
      if (auto f = view.get("name")) {
        if (auto name = read_string(checker_, *f)) client.name = *name;
      } else {
        checker_.add(item, "needs a name (it names the client in logs and refusals)");
      }
      for_each_string(view, "zones", [&](const Field& f, const std::string& zone) {
        if (const Zone* found = config_.find_zone(ascii_lower(zone))) {
          client.zones.push_back(found->name);
        } else {
          checker_.add(f, fmt::format("unknown zone {}", quote(zone)));
        }
      });
      for_each_string(view, "kinds", [&](const Field& f, const std::string& name) {
        if (auto kind = kind_from_string(name)) {
          client.kinds.push_back(*kind);
        } else {
          checker_.add(
              f, unknown_value("kind", name, {"file", "tag", "host", "prefix", "everything"}));
        }
      });
      if (auto f = view.get("priority")) {
        if (auto lane = read_lane(*f)) client.priority = *lane;
      }
      if (view.get("scopes")) {
        client.scopes = ClientScopes{.purge = false, .status = false};
        for_each_string(view, "scopes", [&](const Field& f, const std::string& scope) {
          if (scope == "purge") {
            client.scopes.purge = true;
          } else if (scope == "status") {
            client.scopes.status = true;
          } else {
            checker_.add(f, unknown_value("scope", scope, {"purge", "status"}));
          }
        });
      }
      load_token(item, view, client.token_source, client.token, true);
      // The token is the client's only identity on TCP, guessed at network speed: it must be
      // long enough that guessing is hopeless (Cloudflare's own tokens are 40 characters).
      if (!client.token.empty() && client.token.size() < kMinClientTokenLength) {
        checker_.add(item,
                     fmt::format("the token from {} has {} characters; a client token needs "
                                 "at least {} (e.g. openssl rand -hex 20)",
                                 client.token_source, client.token.size(), kMinClientTokenLength));
      }
      // An empty list reads like "nothing", but omitting a key means "everything": refuse it.
      for (const auto key : {"zones", "kinds"}) {
        if (auto f = view.get(key); f && f->node.IsSequence() && f->node.size() == 0) {
          checker_.add(*f, fmt::format("is empty; omit {} to allow every one, or list some", key));
        }
      }
      // A client that may do nothing is a token that only opens connections.
      if (auto f = view.get("scopes"); f && f->node.IsSequence() && f->node.size() == 0) {
        checker_.add(*f, "is empty; omit scopes for purge only, or list purge, status or both");
      }
      for (const auto& other : config_.api_clients) {
        if (!client.name.empty() && other.name == client.name) {
          checker_.add(item, fmt::format("a second client named {}", quote(client.name)));
        }
        if (!client.token.empty() && other.token == client.token) {
          checker_.add(item, fmt::format("has the same token as client {}: each client needs its "
                                         "own, or refusals and logs would name the wrong one",
                                         quote(other.name)));
        }
      }
      config_.api_clients.push_back(std::move(client));
    }
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
      const MapView view(checker_, item,
                         {"name", "id", "account", "hosts", "everything", "variants", "escalate"});

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
            if (refuse_placeholders() && is_placeholder_zone_name(zone.name)) {
              checker_.add(*f, fmt::format("{} is a placeholder: fill in your zone's name, as the "
                                           "Cloudflare dashboard lists it",
                                           quote(zone.name)));
            }
          }
        }
      } else if (!view.misspelled("name")) {
        checker_.add(item.mark, join(item.path, "name"), "required");
      }

      if (auto f = view.get("id")) {
        if (auto id = read_string(checker_, *f)) {
          if (!is_zone_id(*id)) {
            checker_.add(*f, "must be 32 lowercase hex characters (the zone id, not its name)");
          } else if (const auto [it, fresh] = ids.emplace(*id, index); !fresh) {
            checker_.add(
                *f, fmt::format("duplicate zone id {} (also zones[{}])", quote(*id), it->second));
          } else if (refuse_placeholders() && *id == kSampleZoneId) {
            checker_.add(*f, fmt::format("{} is the sample zone id: fill in your zone's id (32 hex "
                                         "characters: dashboard, the zone's Overview page, "
                                         "API section, Zone ID), or leave `id` out to look it up "
                                         "by name",
                                         *id));
          } else {
            zone.id = *id;
            zone.source = ZoneSource::config;
          }
        }
      } else if (!view.misspelled("id") && name_ok && !config_.dry_run) {
        // Not a problem: the id is looked up by name with the account's token at start.
        checker_.note(item.mark, join(item.path, "id"),
                      fmt::format("not set; {} is looked up by name with its account's token at "
                                  "start (purgeqd --check-config --online looks it up now)",
                                  quote(zone.name)));
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
      } else if (config_.accounts.size() == 1) {
        // The only account (SPEC: "optional when there is one account").
        zone.account = config_.accounts.front().name;
        zone.account_index = 0;
      } else if (!view.misspelled("account") && !accounts_unusable_ && !config_.accounts.empty()) {
        std::vector<std::string_view> account_names;
        for (const auto& account : config_.accounts) account_names.emplace_back(account.name);
        checker_.add(item.mark, join(item.path, "account"),
                     fmt::format("required when there are several accounts ({})",
                                 list_words(account_names, " or ")));
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
      if (auto f = view.get("everything")) load_zone_everything(*f, zone.everything);
      if (auto f = view.get_present("variants")) {
        load_zone_variants(checker_, *f, zone.name, zone.variants);
      }
      if (auto f = view.get("escalate")) load_zone_escalate(*f, zone);
    }
  }

  // zones[i].escalate (docs/delivery.md, "Cost-based escalation"): the blast radius is what the
  // operator lists, so every prefix is checked to be one Cloudflare takes and one of this zone.
  void load_zone_escalate(const Field& section, Zone& zone) {
    if (!expect_map(checker_, section, false)) return;
    Zone::Escalate& escalate = zone.escalate;
    const MapView view(checker_, section,
                       {"prefixes", "depth", "min_urls", "min_share", "horizon"});
    for_each_string(view, "prefixes", [&](const Field& f, const std::string& prefix) {
      if (auto problem = escalation_prefix_problem(prefix, zone)) {
        checker_.add(f, fmt::format("{}: {}", quote(prefix), *problem));
        return;
      }
      const auto slash = std::min(prefix.find('/'), prefix.size());
      std::string folded = ascii_lower(prefix.substr(0, slash)) + prefix.substr(slash);
      if (std::find(escalate.prefixes.begin(), escalate.prefixes.end(), folded) !=
          escalate.prefixes.end()) {
        checker_.add(f, fmt::format("duplicate prefix {}", quote(folded)));
        return;
      }
      escalate.prefixes.push_back(std::move(folded));
    });
    if (auto f = view.get("depth")) {
      if (auto depth = read_int(checker_, *f)) {
        // Cloudflare takes at most 31 slashes in a prefix; depth N makes N + 1.
        if (*depth < 1 || *depth > 30) {
          checker_.add(*f, fmt::format("must be between 1 and 30, got {}", *depth));
        } else {
          escalate.depth = static_cast<int>(*depth);
        }
      }
    }
    if (auto f = view.get("min_urls")) {
      if (auto min_urls = read_int(checker_, *f)) {
        // Above the count cap a check could never see enough URLs to escalate.
        if (*min_urls < 2 || *min_urls > kMaxEscalationMinUrls) {
          checker_.add(*f, fmt::format("must be between 2 and {}, got {}", kMaxEscalationMinUrls,
                                       *min_urls));
        } else {
          escalate.min_urls = *min_urls;
        }
      }
    }
    if (auto f = view.get("min_share")) {
      if (auto share = read_number(checker_, *f)) {
        // Below a tenth, telling the share apart would mean counting ten finished URLs for each
        // pending one on every check.
        if (*share != 0 && (*share < 0.1 || *share > 1)) {
          checker_.add(*f, fmt::format("must be 0 (no share asked) or between 0.1 and 1, got {}",
                                       f->node.Scalar()));
        } else {
          escalate.min_share = *share;
        }
      }
    }
    if (auto f = view.get("horizon")) {
      if (auto horizon = read_positive_duration(checker_, *f)) escalate.horizon = *horizon;
    }
    if (!view.get("prefixes") && !view.get("depth")) {
      // A section that escalates nothing reads like a policy and is none.
      checker_.add(section.mark, join(section.path, "prefixes"),
                   "required unless `depth` is set (the prefixes that may be purged in place of "
                   "the URLs under them)");
    }
  }

  void load_zone_everything(const Field& section, Zone::Everything& everything) {
    if (!expect_map(checker_, section, false)) return;
    const MapView view(checker_, section, {"min_interval", "within"});
    if (auto f = view.get("min_interval")) {
      if (auto interval = read_positive_duration(checker_, *f)) everything.min_interval = *interval;
    } else {
      // Without it the section would look like a guardrail and guard nothing.
      checker_.add(section.mark, join(section.path, "min_interval"),
                   "required (a duration like \"60s\"; leave out `everything` for no interval)");
    }
    if (auto f = view.get("within")) {
      if (auto within = read_string(checker_, *f)) {
        if (*within == "merge") {
          everything.within = Zone::Everything::Within::merge;
        } else if (*within == "refuse") {
          everything.within = Zone::Everything::Within::refuse;
        } else {
          checker_.add(*f, unknown_value("within", *within, {"merge", "refuse"}));
        }
      }
    }
  }

  void load_batching(const Field& section) {
    if (!expect_map(checker_, section, true)) return;
    const MapView view(checker_, section, {"linger", "adaptive", "lane_share_every"});
    if (auto f = view.get("linger")) {
      // 0 is valid: send as soon as anything is pending.
      if (auto linger = read_duration(checker_, *f)) config_.batching.linger = *linger;
    }
    if (auto f = view.get("adaptive")) {
      if (auto adaptive = read_bool(checker_, *f)) config_.batching.adaptive = *adaptive;
    }
    if (auto f = view.get("lane_share_every")) load_lane_share(*f);
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
    const MapView view(
        checker_, section,
        {"max_items_per_intent", "max_body_bytes", "max_connections", "max_connections_per_uid"});
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
    at_least_one("max_body_bytes", config_.intake.max_body_bytes);
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
      const MapView view(checker_, item, {"name", "zones", "kinds", "users", "groups", "priority"});
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
      if (auto f = view.get("priority")) rule.priority = read_lane(*f);
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

  // Priority lanes (docs/delivery.md): `access[].priority`, `api_clients[].priority`.
  std::optional<Lane> read_lane(const Field& f) {
    const auto name = read_string(checker_, f);
    if (!name) return std::nullopt;
    if (auto lane = lane_from_string(*name)) return lane;
    checker_.add(f, unknown_value("priority", *name, {"high", "normal", "bulk"}));
    return std::nullopt;
  }

  void load_lane_share(const Field& f) {
    const auto value = read_int(checker_, f);
    if (!value) return;
    // 1 would give every lane every request (no priority); above 1000 the share means nothing.
    if (*value < 2 || *value > 1000) {
      checker_.add(f, fmt::format("must be between 2 and 1000, got {}", *value));
      return;
    }
    config_.batching.lane_share_every = static_cast<int>(*value);
  }

  template <class Fn>
  void for_each_string(const MapView& view, std::string_view key, Fn fn) {
    const auto list = view.get(key);
    if (!list || !expect_list(checker_, *list)) return;
    for (const auto& entry : items(*list)) {
      if (auto value = read_string(checker_, entry)) fn(entry, *value);
    }
  }

  // A dry run sends nothing, so placeholders in it are harmless (config/purgeq.dev.yaml has them).
  [[nodiscard]] bool refuse_placeholders() const { return placeholders_ && !config_.dry_run; }

  Checker& checker_;
  Config& config_;
  const bool checking_;            // --check-config: see check_config_file
  const bool placeholders_;        // refuse the sample's zone (check and start, not plain loads)
  bool tcp_listen_given_ = false;  // tcp.listen present, valid or not
  std::map<std::string, std::size_t, std::less<>> account_index_;
  bool accounts_unusable_ = false;  // `accounts` is not a list: don't cascade into zones
};

}  // namespace

const Zone* Config::find_zone(std::string_view name_or_id) const {
  if (name_or_id.empty()) return nullptr;  // an unresolved zone's id is empty
  for (const auto& zone : zones) {
    if (zone.name == name_or_id || zone.id == name_or_id) return &zone;
  }
  return nullptr;
}

std::string_view to_string(ZoneSource source) {
  switch (source) {
    case ZoneSource::unresolved:
      return "unresolved";
    case ZoneSource::config:
      return "config";
    case ZoneSource::cloudflare:
      return "cloudflare";
    case ZoneSource::stored:
      return "stored";
  }
  return "unresolved";
}

std::string_view to_string(PlanSource source) {
  switch (source) {
    case PlanSource::unresolved:
      return "unresolved";
    case PlanSource::config:
      return "config";
    case PlanSource::cloudflare:
      return "cloudflare";
  }
  return "unresolved";
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

namespace {

struct Loaded {
  Config config;
  std::vector<std::string> problems;
  std::vector<std::string> notes;
};

Loaded load_text(const std::string& yaml_text, const std::string& source_name, bool checking,
                 bool placeholders) {
  Loaded loaded;
  Checker checker;
  if (const auto document = parse_document(checker, yaml_text, source_name)) {
    Loader(checker, loaded.config, checking, placeholders).load(*document, source_name);
  }
  loaded.problems = checker.take();
  loaded.notes = checker.take_notes();
  return loaded;
}

// The problem with reading the file, if any.
std::optional<std::string> read_config_file(const std::string& path, std::string& text) {
  // The limit only guards against pointing --config at something like /dev/zero.
  if (auto error = read_small_file(path, text, std::size_t{16} * 1024 * 1024)) {
    return fmt::format("{}: cannot read: {}", path, *error);
  }
  return std::nullopt;
}

ConfigCheck to_check(Loaded loaded) {
  ConfigCheck check{std::move(loaded.problems), std::move(loaded.notes), std::nullopt};
  if (check.problems.empty()) check.config = std::move(loaded.config);
  return check;
}

}  // namespace

Config load_config_string(const std::string& yaml_text, const std::string& source_name) {
  Loaded loaded = load_text(yaml_text, source_name, false, false);
  if (!loaded.problems.empty()) throw ConfigError(std::move(loaded.problems));
  return std::move(loaded.config);
}

Config load_config_for_start(const std::string& path) {
  std::string text;
  if (auto problem = read_config_file(path, text)) throw ConfigError({std::move(*problem)});
  Loaded loaded = load_text(text, path, false, true);
  if (!loaded.problems.empty()) throw ConfigError(std::move(loaded.problems));
  return std::move(loaded.config);
}

Config load_config_file(const std::string& path) {
  std::string text;
  if (auto problem = read_config_file(path, text)) throw ConfigError({std::move(*problem)});
  return load_config_string(text, path);
}

ConfigCheck check_config_string(const std::string& yaml_text, const std::string& source_name) {
  return to_check(load_text(yaml_text, source_name, true, true));
}

ConfigCheck check_config_file(const std::string& path) {
  std::string text;
  if (auto problem = read_config_file(path, text)) return {{std::move(*problem)}, {}, std::nullopt};
  return check_config_string(text, path);
}

}  // namespace purgeq
