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

namespace purgeq::cli {
namespace {

struct CommandInfo {
  Command command;
  std::string_view name;
  std::string_view description;
  std::string_view items_name;  // positional name for submit commands, empty otherwise
};

constexpr std::array<CommandInfo, 10> kCommands{{
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
}};

// What CLI11 stores for a bare --wait (a flag takes a value only as --wait=S, so `--wait URL`
// never swallows the URL); no number of seconds spells like this.
constexpr std::string_view kWaitUnlimited = "true";
// Upper bound for --wait=S and --timeout S: far beyond any real wait, far below overflow.
constexpr std::int64_t kMaxSeconds = 10LL * 365 * 24 * 3600;

constexpr std::string_view kFooter =
    R"(Items: `-` in place of the items reads them from stdin, one per line.
Socket: --socket, else $PURGEQ_SOCKET, else /run/purgeq/purgeq.sock.
Exit codes: 0 accepted (with --wait: all purged), 1 some item failed, 2 usage or validation
error, 3 purgeqd unreachable, 4 wait timed out.)";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

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

void read_items(std::istream& in, std::vector<std::string>& items) {
  std::string line;
  while (std::getline(in, line)) {
    const auto item = trim(line);
    if (!item.empty()) items.emplace_back(item);
  }
}

std::optional<Header> parse_header(std::string_view text, std::string& error) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    error = fmt::format("-H \"{}\": expected 'Name: value'", text);
    return std::nullopt;
  }
  const auto name = text.substr(0, colon);
  const auto value = trim(text.substr(colon + 1));
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

ParseResult parse_args(int argc, const char* const* argv, const ParseContext& context) {
  CLI::App app{"purgeq: queue Cloudflare cache purges with purgeqd and follow them", "purgeq"};
  app.footer(std::string(kFooter));
  // Global options are accepted after the command too: the subcommand hands what it doesn't
  // know up to the app. Extras are collected rather than fatal so we can name them ourselves.
  app.fallthrough();
  app.allow_extras();

  std::string socket;
  std::string zone;
  std::string wait_text;
  bool json = false;
  std::vector<std::string> header_args;
  auto* socket_opt = app.add_option("--socket", socket, "purgeqd's socket")->type_name("PATH");
  auto* zone_opt =
      app.add_option("--zone", zone, "zone name or id the items belong to")->type_name("Z");
  auto* wait_opt = app.add_flag("--wait", wait_text,
                                "after queueing, wait until every item is purged or failed; "
                                "--wait=SECONDS bounds the wait (exit 4 when it runs out)");
  app.add_flag("--json", json, "print purgeqd's JSON answer (one line) instead of a summary");
  // One value per -H, so `-H 'A: b' https://...` never swallows the URL.
  auto* header_opt = app.add_option("-H,--header", header_args,
                                    "cache-key header for every URL of `url`, 'Name: value'")
                         ->allow_extra_args(false)
                         ->type_name("'NAME: VALUE'");
  app.set_version_flag("--version", "purgeq " PURGEQ_VERSION);

  std::array<std::vector<std::string>, kCommands.size()> positional_items;
  std::string id;
  std::string timeout_text;
  std::array<CLI::App*, kCommands.size()> subcommands{};
  CLI::Option* timeout_opt = nullptr;
  for (std::size_t i = 0; i < kCommands.size(); ++i) {
    const auto& info = kCommands[i];
    auto* sub = app.add_subcommand(std::string(info.name), std::string(info.description));
    subcommands[i] = sub;
    if (!info.items_name.empty()) {
      sub->add_option(std::string(info.items_name), positional_items[i],
                      "items to purge, or - to read them from stdin")
          ->type_name("");
    }
    if (info.command == Command::show || info.command == Command::wait) {
      // Not ->required(): a missing id gets our wording below, not CLI11's "id is required".
      sub->add_option("ID", id, "intent id, as printed when it was queued")->type_name("");
    }
    if (info.command == Command::wait) {
      timeout_opt = sub->add_option("--timeout", timeout_text,
                                    "give up after this long (seconds, or 90s/5m/1h); exit 4")
                        ->type_name("S");
    }
  }
  app.require_subcommand(0, 1);

  // CLI11 wants a mutable argv-like array of std::string in reverse order.
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);
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
    return usage_error(fmt::format("unexpected argument \"{}\"", extras.front()));
  }
  if (!chosen) {
    return usage_error(
        "missing command: url, tag, host, prefix, everything, status, show, wait, failed or "
        "retry-failed");
  }

  CliRequest request;
  request.command = kCommands[*chosen].command;
  const auto command_name = kCommands[*chosen].name;
  const bool submit = is_submit(request.command);

  if (socket_opt->count() > 0) {
    if (socket.empty()) return usage_error("--socket: empty path");
    request.socket = socket;
  } else if (context.socket_env && !context.socket_env->empty()) {
    request.socket = *context.socket_env;
  } else {
    request.socket = std::string(kDefaultSocket);
  }
  request.json = json;

  if (zone_opt->count() > 0) {
    if (!submit) {
      return usage_error(fmt::format(
          "--zone applies to url, tag, host, prefix and everything, not to {}", command_name));
    }
    if (trim(zone).empty()) return usage_error("--zone: empty zone");
    request.zone = std::string(trim(zone));
  }

  if (wait_opt->count() > 0) {
    if (!submit) {
      return usage_error(
          request.command == Command::wait
              ? "--wait applies to submitting commands; use `wait ID --timeout S` to bound a wait"
              : fmt::format("--wait applies to url, tag, host, prefix and everything, not to {}",
                            command_name));
    }
    request.wait = true;
    if (wait_text != kWaitUnlimited) {
      request.timeout = parse_seconds(wait_text);
      if (!request.timeout) {
        return usage_error(fmt::format(
            "--wait=\"{}\": expected a whole number of seconds (or --wait to wait without limit)",
            wait_text));
      }
    }
  }
  if (request.command == Command::wait) {
    request.wait = true;
    if (timeout_opt->count() > 0) {
      request.timeout = parse_seconds(timeout_text);
      if (!request.timeout) {
        return usage_error(fmt::format(
            "--timeout \"{}\": expected a whole number of seconds (or 90s, 5m, 1h)", timeout_text));
      }
    }
  }

  if (header_opt->count() > 0 && request.command != Command::url) {
    return usage_error(fmt::format(
        "-H applies only to url (headers are part of a URL's cache key), not to {}", command_name));
  }
  for (const auto& text : header_args) {
    std::string error;
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

  if (request.command == Command::show || request.command == Command::wait) {
    if (trim(id).empty()) return usage_error(fmt::format("{}: give the intent's ID", command_name));
    request.id = std::string(trim(id));
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
      read_items(*context.stdin_stream, request.items);
    }
    if (request.items.empty()) {
      return usage_error(
          stdin_read
              ? fmt::format("{}: no items to purge (stdin had only blank lines)", command_name)
              : fmt::format("{}: give at least one {}, or - to read them from stdin", command_name,
                            kCommands[*chosen].items_name));
    }
  }

  ParseResult result;
  result.request = std::move(request);
  return result;
}

}  // namespace purgeq::cli
