// Parsing purgeq's command line (CLI11) into a CliRequest, with the checks CLI11 can't express.
#include "cli/cli_args.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <sstream>

#include "model/ascii.h"
#include "model/lane.h"

namespace purgeq::cli {
namespace {

struct CommandInfo {
  Command command;
  std::string_view name;
  std::string_view description;
  std::string_view items_name;  // positional name for submit commands, empty otherwise
};

constexpr std::array<CommandInfo, 11> kCommands{{
    {Command::url, "url", "purge these URLs (exact cache keys; -H adds cache-key headers)", "URL"},
    {Command::tag, "tag", "purge everything carrying these cache tags", "TAG"},
    {Command::host, "host", "purge every URL on these hostnames", "HOST"},
    {Command::prefix, "prefix", "purge every URL under these host/path prefixes", "PREFIX"},
    {Command::everything, "everything", "purge the zone's whole cache (give --zone)", ""},
    {Command::status, "status", "show queue depth, rate limits and failures", ""},
    {Command::show, "show", "show an intent's progress and errors", ""},
    {Command::wait, "wait", "wait until an intent has finished (exit 0 all purged, 1 failed)", ""},
    {Command::failed, "failed", "list items that failed for good, with Cloudflare's error", ""},
    {Command::retry_failed, "retry-failed", "put every failed item back in the queue", ""},
    {Command::dashboard, "dashboard", "serve the live status page to a browser on this host", ""},
}};

// What CLI11 stores for a bare --wait (a flag takes a value only as --wait=S, so `--wait URL`
// never swallows the URL; `--wait 30` is rewritten to --wait=30 before CLI11 sees it); no number
// of seconds spells like this.
constexpr std::string_view kWaitUnlimited = "true";
// Upper bound for --wait=S and --timeout S: far beyond any real wait, far below overflow.
constexpr std::int64_t kMaxSeconds = 10LL * 365 * 24 * 3600;

// Help footers: the main one for the whole program, one per subcommand with its own examples
// (CLI11 copies the parent's footer into subcommands, so every subcommand sets its own).
constexpr std::string_view kSocketRule =
    "Socket: --socket, else $PURGEQ_SOCKET, else /run/purgeq/purgeq.sock, else ./run/purgeq.sock\n"
    "(the development daemon of scripts/setup.sh --run, run from the checkout).";
constexpr std::string_view kSubmitExits =
    "Exit codes: 0 queued (with --wait: all purged), 1 some item failed, 2 bad arguments or\n"
    "refused by purgeqd, 3 purgeqd unreachable (nothing was queued), 4 --wait ran out (still\n"
    "queued; the reason is printed).";
constexpr std::string_view kReadExits =
    "Exit codes: 0 ok, 2 bad arguments or refused by purgeqd, 3 purgeqd unreachable.";

constexpr std::string_view kMainFooter =
    "Run 'purgeq COMMAND --help' for a command's options and examples.\n";

struct Footers {
  std::string_view examples;
  std::string_view exits;
};

Footers footer_parts(Command command) {
  switch (command) {
    case Command::url:
      return {R"(Examples:
  purgeq url https://www.example.com/ https://www.example.com/css/site.css
  purgeq --wait=600 url - < changed-urls.txt
  purgeq url https://www.example.com/ -H 'CF-Device-Type: mobile'
  purgeq --priority bulk url - < sitemap-urls.txt
  purgeq url --variants https://www.example.com/
In a zone with cache-key variants (zones[].variants) each URL is purged once per combination of
the zone's header values; -H fixes a header to one value; --variants shows the expansion.
`-` in place of the URLs reads them from stdin, one per line. --priority picks the lane (high
goes before normal, normal before bulk); without it the daemon's config decides (normal).)",
              kSubmitExits};
    case Command::tag:
      return {R"(Examples:
  purgeq --zone example.com tag product-1234 category-7
  purgeq --wait 120 tag product-1234
`-` in place of the tags reads them from stdin, one per line.)",
              kSubmitExits};
    case Command::host:
      return {R"(Examples:
  purgeq host images.example.com
  purgeq --wait host images.example.com static.example.com
`-` in place of the hosts reads them from stdin, one per line.)",
              kSubmitExits};
    case Command::prefix:
      return {R"(Examples:
  purgeq prefix www.example.com/blog/
  purgeq --wait=5m prefix www.example.com/blog/ www.example.com/news/
`-` in place of the prefixes reads them from stdin, one per line.)",
              kSubmitExits};
    case Command::everything:
      return {R"(Examples:
  purgeq --zone example.com everything
  purgeq --zone example.com --yes --wait 60 everything
On a terminal it asks "Purge EVERYTHING cached for zone example.com? [y/N]" first; --yes skips
the question. Without a terminal (scripts, CI) it submits without asking.)",
              kSubmitExits};
    case Command::status:
      return {R"(Examples:
  purgeq status
  purgeq status --json | jq .pending)",
              kReadExits};
    case Command::show:
      return {R"(Example:
  purgeq show 019aa3c2f1e84b1f0c2d7a9e
Prints counts by state, failed items and, while not finished, what the intent waits for.)",
              "Exit codes: 0 ok (done or still pending), 1 the intent ended failed or partial, 2\n"
              "unknown id or bad arguments, 3 purgeqd unreachable."};
    case Command::wait:
      return {R"(Examples:
  purgeq wait 019aa3c2f1e84b1f0c2d7a9e
  purgeq wait 019aa3c2f1e84b1f0c2d7a9e --timeout 5m
On a terminal, progress and what the intent waits for are shown on stderr. If purgeqd restarts
during the wait, purgeq reconnects and keeps waiting.)",
              "Exit codes: 0 all purged, 1 some item failed, 2 unknown id or bad arguments, 3\n"
              "purgeqd unreachable at the start, 4 --timeout ran out (the reason is printed)."};
    case Command::failed:
      return {R"(Example:
  purgeq failed)",
              kReadExits};
    case Command::retry_failed:
      return {R"(Example:
  purgeq retry-failed)",
              kReadExits};
    case Command::dashboard:
      return {R"(Examples:
  purgeq dashboard
  purgeq dashboard --port 8099
Listens on 127.0.0.1 only and prints the address to open, which holds a secret made for this run.
The page asks purgeqd as you: what `purgeq status` shows you, it shows; its retry button appears
only when purgeqd counts you as an admin. From another machine: ssh -L 8099:127.0.0.1:8099 host,
then open the printed address with the same port. Ctrl-C stops it.)",
              "Exit codes: 0 stopped by Ctrl-C or SIGTERM, 2 bad arguments or the port is taken."};
  }
  return {};
}

std::string footer_of(Command command) {
  const auto parts = footer_parts(command);
  return fmt::format("{}\n{}\n{}", parts.examples, kSocketRule, parts.exits);
}

constexpr std::string_view kWaitHelp =
    "wait until every item is purged or failed (progress on stderr when it is a terminal); "
    "--wait=S or --wait S gives up after S (90, 90s, 5m, 1h) with exit 4";

// RFC 9110 token characters: what an HTTP header name may contain.
bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Whole seconds, optionally with an s/m/h suffix ("90", "90s", "5m", "1h").
std::optional<std::chrono::seconds> parse_seconds(std::string_view text) {
  std::int64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        text.remove_suffix(1);
        break;
      case 'm':
        multiplier = 60;
        text.remove_suffix(1);
        break;
      case 'h':
        multiplier = 3600;
        text.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0 ||
      value > kMaxSeconds / multiplier) {
    return std::nullopt;
  }
  return std::chrono::seconds(value * multiplier);
}

ParseResult usage_error(std::string_view message) {
  ParseResult result;
  result.exit_code = kExitUsage;
  result.err = fmt::format("purgeq: {}\nrun 'purgeq --help' for usage\n", message);
  return result;
}

}  // namespace

std::string_view to_string(Command command) {
  for (const auto& info : kCommands) {
    if (info.command == command) return info.name;
  }
  return "?";
}

bool is_submit(Command command) {
  switch (command) {
    case Command::url:
    case Command::tag:
    case Command::host:
    case Command::prefix:
    case Command::everything:
      return true;
    default:
      return false;
  }
}

std::string_view trim_space(std::string_view text) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::optional<Header> parse_header(std::string_view text, std::string& error) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    error = fmt::format("-H \"{}\": expected 'Name: value'", text);
    return std::nullopt;
  }
  const auto name = text.substr(0, colon);
  const auto value = trim_space(text.substr(colon + 1));
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
    error = fmt::format(
        "-H \"{}\": header name \"{}\" is not a valid HTTP header name "
        "(expected 'Name: value')",
        text, name);
    return std::nullopt;
  }
  if (value.empty()) {
    error = fmt::format("-H \"{}\": header {} has an empty value", text, name);
    return std::nullopt;
  }
  // Control characters would let a value smuggle a line break into the upstream request.
  const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
  if (!printable) {
    error = fmt::format("-H \"{}\": header {} contains control characters", text, name);
    return std::nullopt;
  }
  return Header{std::string(name), std::string(value)};
}

namespace {

// One app's copies of the options that may stand before or after the command. The parent app
// holds them all (before the command, and whatever a subcommand doesn't know falls through to
// it); each subcommand holds those that apply to it, so its --help lists them.
struct OptionSet {
  std::string socket;
  std::string zone;
  std::string priority;
  std::string wait_text;
  bool json = false;
  bool yes = false;
  bool variants = false;
  std::vector<std::string> headers;
  CLI::Option* socket_opt = nullptr;
  CLI::Option* zone_opt = nullptr;
  CLI::Option* priority_opt = nullptr;
  CLI::Option* wait_opt = nullptr;
  CLI::Option* json_opt = nullptr;
  CLI::Option* header_opt = nullptr;
  CLI::Option* yes_opt = nullptr;
  CLI::Option* variants_opt = nullptr;
};

void add_options(CLI::App& app, OptionSet& set, bool submit, bool url, bool everything) {
  set.socket_opt = app.add_option("--socket", set.socket, "purgeqd's socket (default: see below)")
                       ->type_name("PATH");
  if (submit) {
    set.zone_opt =
        app.add_option("--zone", set.zone, "zone name or id the items belong to")->type_name("Z");
    set.priority_opt =
        app.add_option("--priority", set.priority,
                       "lane: high, normal or bulk (default: the daemon's, normally normal)")
            ->type_name("LANE");
    set.wait_opt = app.add_flag("--wait", set.wait_text, std::string(kWaitHelp));
  }
  set.json_opt = app.add_flag("--json", set.json,
                              "print purgeqd's JSON answer (one line) instead of a summary");
  if (url) {
    // One value per -H, so `-H 'A: b' https://...` never swallows the URL.
    set.header_opt = app.add_option("-H,--header", set.headers,
                                    "cache-key header for every URL, 'Name: value' (repeatable)")
                         ->allow_extra_args(false)
                         ->type_name("'NAME: VALUE'");
    set.variants_opt = app.add_flag(
        "--variants", set.variants,
        "show what each URL expands to (its zone's cache-key variants); queue nothing");
  }
  if (everything) {
    set.yes_opt =
        app.add_flag("-y,--yes", set.yes, "purge everything without asking on the terminal");
  }
}

std::size_t count(const CLI::Option* option) {
  return option == nullptr ? 0 : option->count();
}

// The value of a single-valued option given before or after the command (not both).
std::optional<std::string> merged(std::string_view name, const CLI::Option* global_opt,
                                  const std::string& global_value, const CLI::Option* sub_opt,
                                  const std::string& sub_value, std::string& error) {
  if (count(global_opt) > 0 && count(sub_opt) > 0) {
    error = fmt::format("{} given twice", name);
    return std::nullopt;
  }
  if (count(sub_opt) > 0) return sub_value;
  if (count(global_opt) > 0) return global_value;
  return std::nullopt;
}

// The options that take a value as the next argument, so their value is never read as a flag.
bool takes_value(std::string_view arg) {
  return arg == "-H" || arg == "--header" || arg == "--socket" || arg == "--zone" ||
         arg == "--priority" || arg == "--timeout";
}

// `--wait 30` → `--wait=30`: CLI11 flags take values only with `=`. Only an argument that reads as
// seconds is taken, so `--wait tag x` keeps meaning "wait without limit for tag x".
void join_wait_values(std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (takes_value(args[i])) {
      ++i;
      continue;
    }
    if (args[i] == "--wait" && i + 1 < args.size() && parse_seconds(args[i + 1])) {
      args[i] += "=" + args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  }
}

}  // namespace

SocketChoice choose_socket(const std::optional<std::string>& option,
                           const std::optional<std::string>& env,
                           const std::function<bool(const std::string&)>& exists) {
  if (option) return {*option, {}};
  if (env && !env->empty()) return {*env, {}};
  SocketChoice choice{std::string(kDefaultSocket), {}};
  if (!exists) return choice;
  for (const auto candidate : {kDefaultSocket, kDevSocket}) {
    if (exists(std::string(candidate))) return {std::string(candidate), {}};
  }
  choice.tried = {std::string(kDefaultSocket), std::string(kDevSocket)};
  return choice;
}

ParseResult parse_args(int argc, const char* const* argv, const ParseContext& context) {
  CLI::App app{"purgeq: queue Cloudflare cache purges with purgeqd and follow them", "purgeq"};
  app.footer(fmt::format("{}{}\n{}", kMainFooter, kSocketRule, kSubmitExits));
  // Global options are accepted after the command too: the subcommand hands what it doesn't
  // know up to the app. Extras are collected rather than fatal so we can name them ourselves.
  app.fallthrough();
  app.allow_extras();

  OptionSet global;
  add_options(app, global, true, true, true);
  app.set_version_flag("--version", "purgeq " PURGEQ_VERSION);

  std::array<std::vector<std::string>, kCommands.size()> positional_items;
  std::array<OptionSet, kCommands.size()> sub_options;
  std::string id;
  std::string timeout_text;
  std::string port_text;
  std::array<CLI::App*, kCommands.size()> subcommands{};
  CLI::Option* timeout_opt = nullptr;
  CLI::Option* port_opt = nullptr;
  for (std::size_t i = 0; i < kCommands.size(); ++i) {
    const auto& info = kCommands[i];
    auto* sub = app.add_subcommand(std::string(info.name), std::string(info.description));
    subcommands[i] = sub;
    sub->footer(footer_of(info.command));
    if (!info.items_name.empty()) {
      sub->add_option(std::string(info.items_name), positional_items[i],
                      "items to purge, or - to read them from stdin")
          ->type_name("");
    }
    add_options(*sub, sub_options[i], is_submit(info.command), info.command == Command::url,
                info.command == Command::everything);
    if (info.command == Command::show || info.command == Command::wait) {
      // Not ->required(): a missing id gets our wording below, not CLI11's "id is required".
      sub->add_option("ID", id, "intent id, as printed when it was queued")->type_name("");
    }
    if (info.command == Command::dashboard) {
      port_opt = sub->add_option("--port", port_text, "listen on this port (default: any free one)")
                     ->type_name("N");
    }
    if (info.command == Command::wait) {
      timeout_opt = sub->add_option("--timeout", timeout_text,
                                    "give up after this long (seconds, or 90s/5m/1h); exit 4")
                        ->type_name("S");
    }
  }
  app.require_subcommand(0, 1);

  std::vector<std::string> forward;
  for (int i = 1; i < argc; ++i) forward.emplace_back(argv[i]);
  join_wait_values(forward);
  // CLI11 wants a mutable argv-like array of std::string in reverse order.
  std::vector<std::string> args(forward.rbegin(), forward.rend());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    std::ostringstream out;
    std::ostringstream err;
    ParseResult result;
    result.exit_code = app.exit(e, out, err);
    result.out = out.str();
    result.err = err.str();
    return result;
  } catch (const CLI::CallForVersion& e) {
    std::ostringstream out;
    std::ostringstream err;
    ParseResult result;
    result.exit_code = app.exit(e, out, err);
    result.out = out.str() + (out.str().ends_with('\n') ? "" : "\n");
    result.err = err.str();
    return result;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  std::optional<std::size_t> chosen;
  for (std::size_t i = 0; i < kCommands.size(); ++i) {
    if (subcommands[i]->parsed()) chosen = i;
  }
  const auto extras = app.remaining(true);
  if (!extras.empty()) {
    if (!chosen && !extras.front().starts_with('-')) {
      return usage_error(fmt::format("unknown command \"{}\"", extras.front()));
    }
    if (chosen && kCommands[*chosen].command == Command::everything &&
        !extras.front().starts_with('-')) {
      // The zone is what a user means here; it is an option so it can never be mistaken for an
      // item, and a purge-everything must name it on purpose.
      return usage_error(fmt::format(
          "everything takes no items; to purge everything cached for zone {0}, name it with "
          "--zone: purgeq --zone {0} everything",
          extras.front()));
    }
    return usage_error(fmt::format("unexpected argument \"{}\"", extras.front()));
  }
  if (!chosen) {
    return usage_error(
        "missing command: url, tag, host, prefix, everything, status, show, wait, failed, "
        "retry-failed or dashboard");
  }

  CliRequest request;
  request.command = kCommands[*chosen].command;
  const auto command_name = kCommands[*chosen].name;
  const bool submit = is_submit(request.command);

  const auto& local = sub_options[*chosen];
  std::string error;
  const auto socket =
      merged("--socket", global.socket_opt, global.socket, local.socket_opt, local.socket, error);
  const auto zone =
      merged("--zone", global.zone_opt, global.zone, local.zone_opt, local.zone, error);
  const auto wait_text =
      merged("--wait", global.wait_opt, global.wait_text, local.wait_opt, local.wait_text, error);
  const auto priority = merged("--priority", global.priority_opt, global.priority,
                               local.priority_opt, local.priority, error);
  if (!error.empty()) return usage_error(error);

  if (socket && socket->empty()) return usage_error("--socket: empty path");
  auto choice = choose_socket(socket, context.socket_env, context.socket_exists);
  request.socket = std::move(choice.path);
  request.socket_tried = std::move(choice.tried);
  request.json = global.json || local.json;

  if (zone) {
    if (!submit) {
      return usage_error(fmt::format(
          "--zone applies to url, tag, host, prefix and everything, not to {}", command_name));
    }
    if (trim_space(*zone).empty()) return usage_error("--zone: empty zone");
    request.zone = std::string(trim_space(*zone));
  }

  if (priority) {
    if (!submit) {
      return usage_error(fmt::format(
          "--priority applies to url, tag, host, prefix and everything, not to {}", command_name));
    }
    if (!lane_from_string(*priority)) {
      return usage_error(fmt::format("--priority=\"{}\": expected {}", *priority, kLaneNames));
    }
    request.priority = *priority;
  }

  if (wait_text) {
    if (!submit) {
      return usage_error(
          request.command == Command::wait
              ? "--wait applies to submitting commands; use `wait ID --timeout S` to bound a wait"
              : fmt::format("--wait applies to url, tag, host, prefix and everything, not to {}",
                            command_name));
    }
    request.wait = true;
    if (*wait_text != kWaitUnlimited) {
      request.timeout = parse_seconds(*wait_text);
      if (!request.timeout) {
        return usage_error(fmt::format(
            "--wait=\"{}\": expected a duration in whole seconds, minutes or hours: 90, 90s, 5m "
            "or 1h (or --wait alone to wait without limit)",
            *wait_text));
      }
    }
  }
  if (request.command == Command::wait) {
    request.wait = true;
    if (timeout_opt->count() > 0) {
      request.timeout = parse_seconds(timeout_text);
      if (!request.timeout) {
        return usage_error(fmt::format(
            "--timeout \"{}\": expected a duration in whole seconds, minutes or hours: 90, 90s, "
            "5m or 1h",
            timeout_text));
      }
    }
  }
  request.progress = request.wait && context.stderr_is_terminal;

  const bool yes = global.yes || local.yes;
  if (yes && request.command != Command::everything) {
    return usage_error(fmt::format("--yes applies only to everything, not to {}", command_name));
  }
  request.confirm = request.command == Command::everything && !yes && context.stdin_is_terminal &&
                    context.stderr_is_terminal;

  request.variants = global.variants || local.variants;
  if (request.variants && request.command != Command::url) {
    return usage_error(
        fmt::format("--variants applies only to url (cache-key variants are per URL), not to {}",
                    command_name));
  }
  if (request.variants && request.wait) {
    return usage_error("--variants queues nothing, so there is nothing to --wait for");
  }

  std::vector<std::string> header_args = global.headers;
  header_args.insert(header_args.end(), local.headers.begin(), local.headers.end());
  if (!header_args.empty() && request.command != Command::url) {
    return usage_error(fmt::format(
        "-H applies only to url (headers are part of a URL's cache key), not to {}", command_name));
  }
  for (const auto& text : header_args) {
    auto header = parse_header(text, error);
    if (!header) return usage_error(error);
    const auto name = ascii_lower(header->first);
    const bool duplicate =
        std::any_of(request.headers.begin(), request.headers.end(),
                    [&](const Header& h) { return ascii_lower(h.first) == name; });
    if (duplicate) {
      return usage_error(fmt::format("-H \"{}\": header {} given twice", text, header->first));
    }
    request.headers.push_back(std::move(*header));
  }

  if (request.command == Command::dashboard && port_opt->count() > 0) {
    unsigned port = 0;
    const auto text = trim_space(port_text);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
      return usage_error(
          fmt::format("--port \"{}\": expected a port number from 1 to 65535", port_text));
    }
    request.port = static_cast<std::uint16_t>(port);
  }

  if (request.command == Command::show || request.command == Command::wait) {
    if (trim_space(id).empty())
      return usage_error(fmt::format("{}: give the intent's ID", command_name));
    request.id = std::string(trim_space(id));
  }

  if (!kCommands[*chosen].items_name.empty()) {
    bool stdin_read = false;
    for (auto& item : positional_items[*chosen]) {
      if (item != "-") {
        request.items.push_back(std::move(item));
        continue;
      }
      if (stdin_read) return usage_error(fmt::format("{}: `-` (stdin) given twice", command_name));
      if (context.stdin_stream == nullptr) {
        return usage_error(fmt::format("{}: cannot read items from stdin", command_name));
      }
      stdin_read = true;
      request.stdin_items = context.stdin_stream;
      request.stdin_position = request.items.size();
    }
    if (request.items.empty() && !stdin_read) {
      return usage_error(fmt::format("{}: give at least one {}, or - to read them from stdin",
                                     command_name, kCommands[*chosen].items_name));
    }
  }

  ParseResult result;
  result.request = std::move(request);
  return result;
}

}  // namespace purgeq::cli
