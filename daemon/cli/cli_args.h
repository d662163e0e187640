// The purgeq command line as a plain value: parsing (CLI11) kept apart from executing it, so every
// rule about arguments, stdin items and headers is testable without a socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/item.h"

namespace purgeq::cli {

// The CLI's exit codes (docs/cli.md); scripts branch on them, never renumber.
enum ExitCode : int {
  kExitOk = 0,           // accepted; with --wait / wait: every item purged
  kExitItemsFailed = 1,  // the intent ended failed or partial
  kExitUsage = 2,        // bad arguments, or the daemon refused the request (400/403/404/413)
  // No usable answer before the intent was accepted (or, for wait/show/status/..., at all):
  // connect failed, connection dropped, 5xx. Not for a restart or a 5xx once the intent was
  // accepted: the wait reconnects instead (docs/cli.md).
  kExitUnreachable = 3,
  // --wait=S / wait --timeout S ran out before the intent finished (the daemon may have been
  // unreachable at the end; the intent stays queued either way).
  kExitTimedOut = 4,
};

enum class Command {
  url,           // POST /v1/purge {"files": [...]}
  tag,           // {"tags": [...]}
  host,          // {"hosts": [...]}
  prefix,        // {"prefixes": [...]}
  everything,    // {"purge_everything": true}
  status,        // GET /v1/status
  show,          // GET /v1/intents/{id}
  wait,          // GET /v1/intents/{id}?wait=S until terminal
  failed,        // GET /v1/failed
  retry_failed,  // POST /v1/failed/retry
  dashboard,     // the status page on 127.0.0.1 (cli/dashboard.h)
};

// "url", "tag", ..., "retry-failed": the subcommand as typed.
std::string_view to_string(Command command);
// Commands that POST an intent (url, tag, host, prefix, everything).
bool is_submit(Command command);

// Where the packaged purgeqd listens (systemd/purgeq.socket).
inline constexpr std::string_view kDefaultSocket = "/run/purgeq/purgeq.sock";
// Where `scripts/setup.sh --run` makes purgeqd listen (config/purgeq.dev.yaml's `run/purgeq.sock`,
// relative to the checkout), so the README's commands work from the checkout without --socket.
inline constexpr std::string_view kDevSocket = "./run/purgeq.sock";

// The socket to use and, when none was found, the paths looked at (for the error message).
struct SocketChoice {
  std::string path;
  // Empty when the path came from --socket / $PURGEQ_SOCKET or was found on disk.
  std::vector<std::string> tried;
};

// --socket, else $PURGEQ_SOCKET (when non-empty), else the first of kDefaultSocket, kDevSocket that
// `exists` reports; when neither exists, kDefaultSocket with both paths in `tried`. A null `exists`
// skips the probing: kDefaultSocket.
[[nodiscard]] SocketChoice choose_socket(const std::optional<std::string>& option,
                                         const std::optional<std::string>& env,
                                         const std::function<bool(const std::string&)>& exists);

// One invocation, fully parsed and validated; executing it needs nothing else.
struct CliRequest {
  Command command = Command::status;
  // url/tag/host/prefix: the items given as arguments, in order, without the `-`; empty for all
  // other commands. Never empty for those commands unless stdin_items is set.
  std::vector<std::string> items;
  // Set when an item was `-`: stdin's lines are items too, read one by one while submitting
  // (cli/item_stream.h), so that no list, however long, is held whole.
  std::istream* stdin_items = nullptr;
  // Where stdin's lines go among `items`: before items[stdin_position].
  std::size_t stdin_position = 0;
  // url only: -H headers in the order given, names as typed, values trimmed. Names are unique
  // (case-insensitively); every item of the command carries all of them.
  std::vector<Header> headers;
  std::string zone;  // --zone: name or id for the body's "zone"; empty = let the daemon route
  // --priority: "high", "normal" or "bulk" for the body's "priority"; empty = the daemon's default
  std::string priority;
  // url --variants: print what each URL expands to (the zone's cache-key variants, POST
  // /v1/expand) instead of queueing anything. Never together with wait.
  bool variants = false;
  // Submit commands with --wait, and the `wait` command: poll the intent until it is terminal.
  bool wait = false;
  // With `wait`: the bound (--wait=S, wait --timeout S); nullopt waits without limit.
  std::optional<std::chrono::seconds> timeout;
  // With `wait`: show a self-overwriting progress line on stderr (stderr is a terminal).
  bool progress = false;
  bool json = false;   // --json: print the daemon's answer bodies instead of the human summary
  std::string socket;  // choose_socket's path; never empty
  // choose_socket's `tried`: non-empty when no socket was found, so "not found" can name them.
  std::vector<std::string> socket_tried;
  std::string id;          // show / wait: the intent id as given; empty for other commands
  std::uint16_t port = 0;  // dashboard --port; 0: any free port
  // everything: ask on the terminal before submitting. Set when stdin and stderr are terminals
  // and --yes was not given; scripts (no terminal) submit without asking, as before the prompt.
  bool confirm = false;
};

// What parse_args hands back: a request to execute, or the final word (help, version, error).
struct ParseResult {
  std::optional<CliRequest> request;  // set: execute it; unset: exit with exit_code right away
  int exit_code = kExitOk;            // when !request: 0 after --help/--version, 2 on usage errors
  std::string out;                    // when !request: text for stdout (help, version)
  std::string err;                    // when !request: text for stderr, "purgeq: ..." lines
};

// The process surroundings parse_args reads, injected so tests need no real stdin or environment.
struct ParseContext {
  // Read (while executing) when an item is `-`; null: `-` is an error.
  std::istream* stdin_stream = nullptr;
  std::optional<std::string> socket_env;  // $PURGEQ_SOCKET when set and non-empty
  // Whether a path is a socket; null: don't probe (the socket is kDefaultSocket unless given).
  std::function<bool(const std::string&)> socket_exists;
  bool stderr_is_terminal = false;  // enables CliRequest::progress for waits
  bool stdin_is_terminal = false;   // with stderr_is_terminal: `everything` asks to confirm
};

// Parses argv (argv[0] is the program name). Global options may come before or after the command.
// `--wait S` (a separate argument that reads as seconds: 90, 90s, 5m, 1h) means --wait=S; any
// other next argument is not taken, so `--wait tag x` waits without limit for tag x.
[[nodiscard]] ParseResult parse_args(int argc, const char* const* argv,
                                     const ParseContext& context);

// `text` without leading and trailing whitespace (spaces, tabs, \r, \n, \f, \v): how arguments and
// stdin's lines are read.
[[nodiscard]] std::string_view trim_space(std::string_view text);

// Parses one -H argument, "Name: value". The name must be an HTTP token, the value non-empty
// visible text; on error returns nullopt and sets `error` to a sentence naming the argument.
[[nodiscard]] std::optional<Header> parse_header(std::string_view text, std::string& error);

}  // namespace purgeq::cli
