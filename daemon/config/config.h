// The daemon's configuration: the YAML schema of docs/configuration.md as typed values, loaded
// strictly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/duration.h"
#include "config/hooks_config.h"
#include "config/plans.h"
#include "config/variants.h"
#include "model/item.h"
#include "model/lane.h"
#include "observe/log_level.h"

namespace purgeq {

// Where a zone's id came from (docs/configuration.md, "Zones by name").
enum class ZoneSource : std::uint8_t {
  unresolved,  // not known yet: the zone's items are accepted and stored, delivery waits
  config,      // zones[i].id
  cloudflare,  // looked up with the account's token by this process
  stored,      // looked up by an earlier run, read from the queue's database
};
std::string_view to_string(ZoneSource source);

// Where an account's plan in effect came from.
enum class PlanSource : std::uint8_t {
  unresolved,  // no plan set and none of its zones looked up yet: paced as free meanwhile
  config,      // accounts[i].plan
  cloudflare,  // the plan Cloudflare reports for its zones (the most conservative of them)
};
std::string_view to_string(PlanSource source);

struct Account {
  std::string name;
  // accounts[i].plan, when set: it wins over the plan Cloudflare reports for the zones.
  std::optional<Plan> plan_setting;
  LimitOverrides limit_overrides;  // accounts[i].limits as written
  // In effect (with_known_zones, config/known_zones.h): plan_setting, else the most conservative
  // plan of its looked-up zones, else free until one is looked up.
  Plan plan = Plan::free;
  PlanSource plan_source = PlanSource::unresolved;
  // Why the plan in effect is not the plan of every zone (zones on different plans, or a plan
  // set here that Cloudflare reports otherwise), for logs and status; empty when they agree.
  std::string plan_note;
  Limits limits;  // limits_for_plan(plan, limit_overrides)
  // Where the token came from, for messages: "token_file /etc/purgeq/token", "token_env X",
  // "token_credential NAME". Never the token itself.
  std::string token_source;
  std::string token;  // secret: never log, print or expose; empty only when dry_run
};

struct Zone {
  // Lower case. The zone's identity: the queue stores its items under its name, so that items
  // accepted before its id is known keep their place (docs/architecture.md, "Zones by name").
  std::string name;
  // 32 lower-case hex characters: zones[i].id, or what Cloudflare answered for the name; empty
  // while unresolved, when nothing of the zone is sent.
  std::string id;
  ZoneSource source = ZoneSource::unresolved;
  std::string account;  // name of an entry in Config::accounts (the only one when not given)
  std::size_t account_index = 0;
  // What the last lookup said (with_known_zones): Cloudflare's id of the account that owns the
  // zone, the zone's plan as Cloudflare names it (`plan.legacy_id`) and when it answered (Unix
  // ms). Empty and 0 until a lookup answered, or for a zone whose id and account's plan are
  // both set (nothing to look up).
  std::string account_id;
  std::string plan;
  std::int64_t resolved_at_ms = 0;
  [[nodiscard]] bool resolved() const { return !id.empty(); }
  // Host patterns this zone owns, lower-cased: "example.com" matches exactly, "*.example.com"
  // matches any subdomain (not the apex). Default: {name, "*." + name}.
  std::vector<std::string> hosts;
  // Purge-everything guardrails (`zones[i].everything`, docs/delivery.md): at most one
  // purge-everything of this zone is taken into a request per `min_interval`. A later one within
  // it is refused, or (merge) accepted only when it can ride on one still pending.
  struct Everything {
    enum class Within : std::uint8_t { merge, refuse };
    Duration min_interval{0};  // 0: no interval (every purge-everything is sent)
    Within within = Within::merge;
  } everything;
  // Cache-key variants (`zones[i].variants`, docs/delivery.md): each URL purged in this zone is
  // sent once per combination of these headers' values. Empty: URLs are sent as given.
  std::vector<VariantHeader> variants;
  // Cost-based escalation (`zones[i].escalate`, docs/delivery.md): while the account's URL budget
  // binds, many pending URLs under an allowed prefix go as one prefix purge. Off unless `prefixes`
  // or `depth` is set.
  struct Escalate {
    std::vector<std::string> prefixes;  // host + path, host lower-cased, each a host of the zone
    int depth = 0;                      // 0: only `prefixes`
    long long min_urls = 100;
    double min_share = 0.5;  // 0: no share asked
    Duration horizon = std::chrono::seconds(10);
    [[nodiscard]] bool enabled() const { return !prefixes.empty() || depth > 0; }
  } escalate;
};

// Restricts which local users/groups may submit which kinds to which zones (docs/configuration.md,
// "access rules"). An item is allowed when every rule that matches its zone and kind also matches
// the submitting peer.
struct AccessRule {
  std::string name;                // for 403 messages; default "access[i]"
  std::vector<std::string> zones;  // zone names; empty = every zone
  std::vector<Kind> kinds;         // empty = every kind
  std::vector<std::string> users;  // user names or numeric uids allowed
  std::vector<std::string>
      groups;  // group names or numeric gids allowed (primary or supplementary)
  // The lane of the intents this rule admits, unless the intent names one (docs/delivery.md,
  // "Priority lanes"); the first rule in order that sets one and matches decides.
  std::optional<Lane> priority;
};

// What an API client's token may be used for on the TCP listener (`api_clients[].scopes`).
struct ClientScopes {
  bool purge = true;    // Cloudflare's purge route, under the client's zones and kinds
  bool status = false;  // read-only: the status page, /v1/status, /v1/status/history, intents
};

// A Cloudflare API client admitted on the TCP listener (`api_clients:`): it authenticates with its
// own bearer token and may purge what its rules allow, as an `access:` rule allows a local peer.
struct ApiClient {
  std::string name;
  std::string token_source;  // "token_file /etc/purgeq/clients/cms.token" etc., never the token
  std::string token;         // secret: never log, print or expose
  std::vector<std::string> zones;  // zone names; empty = every zone
  std::vector<Kind> kinds;         // empty = every kind (purge_everything is the kind "everything")
  Lane priority = Lane::normal;    // the lane of its intents (it cannot name one on the wire)
  ClientScopes scopes;             // default: purge only
};

// The host's name (gethostname), the default storage.node; "purgeqd" if it has none.
std::string this_host_name();

struct Config {
  struct Listen {
    std::string socket = "/run/purgeq/purgeq.sock";
    unsigned mode = 0660;
    std::string group;  // empty: leave the group as created
  } listen;
  struct Storage {
    // Where the queue lives (docs/scale-out.md): the embedded SQLite file or a PostgreSQL server.
    enum class Backend { sqlite, postgres } backend = Backend::sqlite;
    std::string path = "/var/lib/purgeq/queue.db";  // sqlite
    std::string dsn;                  // postgres: libpq connection string or URI, no password
    std::string password_file;        // postgres: a file holding only the password
    std::string password_credential;  // postgres: a systemd credential holding it
    // postgres: how status and the other daemons name this one (default: the host's name).
    std::string node = this_host_name();
    // Backpressure: above either, submissions get 503 with Retry-After naming the limit.
    long long max_pending_items = 20'000'000;  // targets pending or in flight
    long long max_size_mb = 0;                 // database and journal on disk; 0: no limit
  } storage;
  struct Cloudflare {
    std::string api_base = "https://api.cloudflare.com/client/v4";
    Duration timeout = std::chrono::seconds(30);
  } cloudflare;
  bool dry_run = false;
  std::vector<Account> accounts;
  std::vector<Zone> zones;
  struct Batching {
    Duration linger = std::chrono::milliseconds(200);
    // Partial batches go at once while the account's budget is plentiful; linger is then only
    // the bound for when it is tight (docs/delivery.md, "Adaptive linger").
    bool adaptive = true;
    // Priority lanes: a lower lane with items waiting gets at least one request in this many
    // (docs/delivery.md, "Priority lanes").
    int lane_share_every = 10;
  } batching;
  struct Retry {
    Duration initial = std::chrono::seconds(1);
    Duration max = std::chrono::minutes(5);
    Duration give_up_after = std::chrono::hours(72);
  } retry;
  struct Log {
    LogLevel level = LogLevel::info;
  } log;
  std::vector<AccessRule> access;
  // Limits on what one client can hold of the daemon (the style of dbus-daemon's limits): a
  // refused connection or intent gets a clear 503 or 413 naming the limit.
  struct Intake {
    long long max_items_per_intent = 250'000;  // far above any real deploy; 413 above it
    long long max_body_bytes = 8'388'608;      // 8 MiB; a request body over this gets 413
    long long max_connections = 1024;          // open socket connections, all clients together
    long long max_connections_per_uid = 128;   // per peer uid, so one user cannot starve others
  } intake;
  // Who may use the admin endpoints: list failed items, retry them, read other users' intents.
  // Root and purgeqd's own uid always may. Unset: anyone who can reach the socket, unless access
  // rules are configured (then only root and purgeqd's uid).
  struct Admin {
    bool configured = false;
    std::vector<std::string> users;   // user names or numeric uids
    std::vector<std::string> groups;  // group names or numeric gids
  } admin;

  // The TCP listener for Cloudflare API clients: off unless `tcp.listen` is set.
  struct Tcp {
    bool enabled = false;
    std::string address = "127.0.0.1";  // loopback unless an address is given
    unsigned short port = 0;
    long long max_connections = 256;
  } tcp;
  std::vector<ApiClient> api_clients;
  std::vector<Hook> hooks;  // completion hooks, in config order

  // The metrics port (`metrics:`): GET /metrics over TCP for Prometheus, and nothing else; off
  // unless `metrics.listen` is set.
  struct MetricsPort {
    bool enabled = false;
    std::string address = "127.0.0.1";  // loopback unless an address is given
    unsigned short port = 0;
    std::string token_source;  // "" without a token: whoever reaches the port may scrape
    std::string token;         // secret: never log, print or expose
  } metrics;

  [[nodiscard]] const Zone* find_zone(std::string_view name_or_id) const;
};

// Every problem found in a config file, each "key.path: reason" (e.g.
// `zones[1].account: unknown account "mian"`), in document order.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  [[nodiscard]] const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Loads, validates and resolves (tokens read, account indexes set) a config. Throws ConfigError
// listing every problem; never returns a partially valid config.
Config load_config_file(const std::string& path);
Config load_config_string(const std::string& yaml_text,
                          const std::string& source_name = "<string>");
// The same for starting or reloading the daemon: also refuses the shipped sample's placeholders
// (a zone named example.com, the sample zone id) unless dry_run, as --check-config does. The
// daemon itself refuses them, with exit 2, so that systemd's RestartPreventExitStatus=2 applies:
// a failing ExecStartPre= would be restarted until the start limit took the socket down too.
Config load_config_for_start(const std::string& path);

// What --check-config found. Problems make the config invalid; notes do not.
struct ConfigCheck {
  std::vector<std::string> problems;  // as ConfigError's
  std::vector<std::string> notes;     // each "key.path: note", in document order
  std::optional<Config> config;       // set when there are no problems
};

// Validates a config for `purgeqd --check-config`, which may run anywhere (an admin's shell, CI,
// ExecStartPre=). Like loading it for start, except:
//  - a token that only the daemon's runtime provides (a systemd credential while
//    CREDENTIALS_DIRECTORY is unset, an environment variable not set here) is a note, "resolved
//    at start", not a problem. Where it is available it is checked as at start, and so is every
//    token_file: missing, unreadable, empty or malformed is a problem;
//  - unless dry_run, the sample config's placeholders (its zone id, a zone named example.com) are
//    problems saying what to fill in.
// Never throws ConfigError.
ConfigCheck check_config_file(const std::string& path);
ConfigCheck check_config_string(const std::string& yaml_text,
                                const std::string& source_name = "<string>");

}  // namespace purgeq
