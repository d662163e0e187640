// Executing purgeq commands: one request per command, plus the ?wait= polling loop for --wait/wait.
#include "cli/cli_commands.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/cli_output.h"
#include "cli/dashboard.h"
#include "cli/intent_chunks.h"
#include "cli/item_stream.h"
#include "cli/socket_client.h"
#include "model/ascii.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;
using std::chrono::steady_clock;

// One answer from purgeqd, already judged: exit_code != 0 means the command ends here and its
// error has been printed; otherwise `body` is the answer's JSON object.
struct CallResult {
  int exit_code = kExitOk;
  json::value body;
};

void print_error(std::ostream& err, std::string_view message) {
  err << "purgeq: " << message << '\n';
}

// --json output: one line, numbers as people write them (Boost.JSON prints 800.0 as 8E2).
std::string json_line(const json::value& value) {
  return json_for_people(value) + '\n';
}

// The sentence for an answer that never came. When no socket was found by the default rule, it
// names every path looked at and how to point purgeq at the right one.
std::string failure_text(const CliRequest& request, const HttpAnswer& answer,
                         std::chrono::seconds timeout) {
  if (answer.failure == Failure::connect && !request.socket_tried.empty() &&
      answer.error == boost::system::errc::no_such_file_or_directory) {
    std::string paths;
    for (const auto& path : request.socket_tried) {
      paths += fmt::format("{}{}", paths.empty() ? "" : " nor at ", path);
    }
    return fmt::format(
        "cannot reach purgeqd: no socket at {} (the installed daemon's, then the development "
        "daemon's, relative to the current directory); start purgeqd, or point purgeq at its "
        "socket with --socket PATH or PURGEQ_SOCKET=PATH",
        paths);
  }
  return describe_failure(request.socket, answer, timeout);
}

// One request, judged but not printed: what call() and the wait loop have in common.
struct Exchange {
  int exit_code = kExitOk;
  std::string error;         // when exit_code != 0: the sentence for stderr
  json::value parsed;        // the answer's JSON (null when there was none, or not JSON)
  bool transient = false;    // no answer, or 5xx: worth asking again while waiting
  std::string brief;         // when transient: a few words for the progress line
  unsigned http_status = 0;  // 0 when no answer came
};

// The daemon's error code ("too_many_items") and, when it names one, the limit it applied.
struct Refusal {
  std::string code;
  std::optional<std::uint64_t> limit;
};

Refusal refusal_of(const json::value& body) {
  Refusal refusal;
  const auto* object = body.if_object();
  const auto* error = object != nullptr ? object->if_contains("error") : nullptr;
  if (error == nullptr || !error->is_object()) return refusal;
  if (const auto* code = error->as_object().if_contains("code"); code && code->is_string()) {
    refusal.code = std::string(code->get_string());
  }
  if (const auto* limit = error->as_object().if_contains("limit")) {
    if (limit->is_uint64()) refusal.limit = limit->get_uint64();
    if (limit->is_int64() && limit->get_int64() > 0) {
      refusal.limit = static_cast<std::uint64_t>(limit->get_int64());
    }
  }
  return refusal;
}

Exchange exchange(const CliRequest& request, Method method, std::string_view target,
                  std::string_view body, std::chrono::seconds timeout) {
  Exchange result;
  const auto answer = http_request(request.socket, method, target, body, timeout);
  if (answer.failure != Failure::none) {
    result.exit_code = kExitUnreachable;
    result.error = failure_text(request, answer, timeout);
    result.transient = true;
    result.brief = answer.error.message();
    return result;
  }
  result.http_status = answer.status;
  boost::system::error_code parse_error;
  result.parsed = json::parse(answer.body, parse_error);
  if (parse_error) result.parsed = nullptr;
  const auto verdict = answer_verdict(answer.status, result.parsed);
  if (verdict.exit_code != kExitOk) {
    result.exit_code = verdict.exit_code;
    result.error = verdict.error;
    result.transient = answer.status >= 500;
    result.brief = fmt::format("HTTP {}", answer.status);
    return result;
  }
  if (!result.parsed.is_object()) {
    result.exit_code = kExitUnreachable;
    result.error = fmt::format("unreadable answer from purgeqd (HTTP {}): {}", answer.status,
                               parse_error ? parse_error.message() : "not a JSON object");
    result.parsed = nullptr;  // not an answer --json should pass on
  }
  return result;
}

// Sends one request and applies answer_verdict. With --json the daemon's body is printed on
// stdout even for refusals, so scripts can read the error's code and item.
CallResult call(const CliRequest& request, Method method, std::string_view target,
                std::string_view body, std::chrono::seconds timeout, std::ostream& out,
                std::ostream& err) {
  auto result = exchange(request, method, target, body, timeout);
  if (result.exit_code != kExitOk) {
    if (request.json && !result.parsed.is_null()) out << json_line(result.parsed);
    print_error(err, result.error);
    return {result.exit_code, {}};
  }
  return {kExitOk, std::move(result.parsed)};
}

std::string_view status_of(const json::value& intent) {
  const auto* status = intent.as_object().if_contains("status");
  return status != nullptr && status->is_string() ? std::string_view(status->get_string())
                                                  : std::string_view();
}

// The self-overwriting stderr line of a wait on a terminal; does nothing when disabled.
class ProgressLine {
 public:
  ProgressLine(std::ostream& err, bool enabled) : err_(err), enabled_(enabled) {
    if (!enabled_) return;
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 10) width_ = size.ws_col;
  }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { clear(); }

  void show(std::string line) {
    if (!enabled_) return;
    // One column short of the width: a line that fills it would wrap on some terminals, and a
    // wrapped line can no longer be overwritten with \r.
    if (line.size() >= width_) {
      auto cut = width_ - 4;
      while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
      line = line.substr(0, cut) + "...";
    }
    err_ << '\r' << line << "\x1b[K" << std::flush;
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    err_ << "\r\x1b[K" << std::flush;
    shown_ = false;
  }

 private:
  std::ostream& err_;
  bool enabled_;
  bool shown_ = false;
  std::size_t width_ = 80;
};

std::int64_t whole_seconds(steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

// Where a wait stands when it stops following an intent.
struct Followed {
  // kExitOk: `intent` is its last state (terminal, or not when the deadline came). Otherwise the
  // wait ended on an error that has been printed.
  int exit_code = kExitOk;
  json::value intent;
};

// Polls GET /v1/intents/{id}?wait=S until the intent is terminal or `deadline` has passed.
// `accepted`: the daemon has already answered for this intent (a submit's 202), so losing it
// later is a restart to ride out, not a reason to give up: only the deadline ends the wait.
// `label` goes before the progress line ("intent 2 of 3: ") when several intents are followed.
Followed follow_intent(const CliRequest& request, std::string_view id, bool accepted,
                       std::optional<steady_clock::time_point> deadline, ProgressLine& progress,
                       std::string_view label, std::ostream& out, std::ostream& err) {
  const auto start = steady_clock::now();
  // On a terminal, short polls keep the line current; piped, long polls cost the least.
  const auto max_poll = request.progress ? kProgressPollWait : kMaxPollWait;
  std::optional<steady_clock::time_point> lost_since;
  auto backoff = kReconnectFirst;
  for (;;) {
    const auto round_start = steady_clock::now();
    std::int64_t wait = max_poll.count();
    if (deadline) {
      // Rounded up: a poll for the last fraction of a second must hold, not return at once.
      const auto remaining =
          std::chrono::ceil<std::chrono::seconds>(*deadline - round_start).count();
      wait = std::clamp<std::int64_t>(remaining, 0, max_poll.count());
    }
    auto result = exchange(request, Method::get, intent_target(id, wait), {},
                           std::chrono::seconds(wait) + kPollGrace);
    if (result.exit_code != kExitOk && result.transient && accepted) {
      const auto now = steady_clock::now();
      if (!lost_since) lost_since = round_start;
      if (deadline && now >= *deadline) {
        progress.clear();
        print_error(err, fmt::format("timed out waiting for intent {}: purgeqd has not answered "
                                     "for {} ({}); the intent stays queued: purgeq show {}",
                                     id, format_seconds(whole_seconds(now - *lost_since)),
                                     result.error, id));
        return {kExitTimedOut, {}};
      }
      auto pause = backoff;
      if (deadline) {
        pause = std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    *deadline - now + std::chrono::milliseconds(1)));
      }
      progress.show(fmt::format("{}waiting {}: purgeqd unreachable ({}); retry in {} s", label,
                                format_seconds(whole_seconds(now - start)), result.brief,
                                (pause.count() + 999) / 1000));
      std::this_thread::sleep_for(pause);
      backoff = std::min(backoff * 2, kReconnectMax);
      continue;
    }
    if (result.exit_code != kExitOk) {
      progress.clear();
      if (request.json && !result.parsed.is_null()) out << json_line(result.parsed);
      print_error(err, result.error);
      return {result.exit_code, {}};
    }
    accepted = true;
    lost_since.reset();
    backoff = kReconnectFirst;
    const auto status = status_of(result.parsed);
    if (status.empty()) {
      progress.clear();
      print_error(err, fmt::format("unreadable answer from purgeqd: intent {} has no status", id));
      return {kExitUnreachable, {}};
    }
    const auto now = steady_clock::now();
    if (is_terminal(status) || (deadline && now >= *deadline)) {
      return {kExitOk, std::move(result.parsed)};
    }
    progress.show(std::string(label) + format_progress(result.parsed, whole_seconds(now - start)));
    // purgeqd answers early while shutting down; don't turn that into a busy loop.
    if (now - round_start < std::chrono::seconds(1)) {
      auto pause = std::chrono::milliseconds(500);
      if (deadline) {
        pause = std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    *deadline - now + std::chrono::milliseconds(1)));
      }
      std::this_thread::sleep_for(pause);
    }
  }
}

// Waits for every intent in `ids` (one command's, in order) under one deadline and prints the
// outcome of all of them as one: the summary (or the JSON states) and the verdict.
int wait_for_intents(const CliRequest& request, const std::vector<std::string>& ids, bool accepted,
                     std::ostream& out, std::ostream& err) {
  std::optional<steady_clock::time_point> deadline;
  if (request.timeout) deadline = steady_clock::now() + *request.timeout;
  ProgressLine progress(err, request.progress);
  std::vector<json::value> states;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto label =
        ids.size() > 1 ? fmt::format("intent {} of {}: ", i + 1, ids.size()) : std::string();
    auto followed = follow_intent(request, ids[i], accepted, deadline, progress, label, out, err);
    if (followed.exit_code != kExitOk) return followed.exit_code;
    states.push_back(std::move(followed.intent));
  }
  progress.clear();
  const auto merged = merge_intents(states);
  const bool terminal = is_terminal(status_of(merged));
  if (request.json) {
    out << json_line(ids.size() > 1
                         ? json::value{{"intents", json::array(states.begin(), states.end())}}
                         : merged);
  } else if (terminal) {
    out << format_outcome(merged);
  }
  const auto verdict = intent_verdict(merged, !terminal);
  if (!verdict.error.empty()) print_error(err, verdict.error);
  return verdict.exit_code;
}

// "  https://bücher.example/ sent as https://xn--bcher-kva.example/" for the first few items
// that had to be encoded, so the receipt shows what the cache key really is.
std::string format_encoded(const ItemStream& items) {
  std::string out;
  for (const auto& e : items.encoded()) {
    out += fmt::format("  {} sent as {}\n", e.given, e.sent);
  }
  if (items.encoded_count() > items.encoded().size()) {
    out += fmt::format("  ... and {} more items sent percent- or IDNA-encoded\n",
                       items.encoded_count() - items.encoded().size());
  }
  return out;
}

// Names what stays queued when a later intent of the same command could not be submitted.
void print_already_queued(const std::vector<json::value>& receipts, std::ostream& err) {
  if (receipts.empty()) return;
  std::int64_t items = 0;
  std::string ids;
  for (const auto& receipt : receipts) {
    if (const auto* n = receipt.as_object().if_contains("items"); n && n->is_int64()) {
      items += n->get_int64();
    }
    const auto* id = receipt.as_object().if_contains("id");
    ids += fmt::format("{}{}", ids.empty() ? "" : ", ",
                       id != nullptr && id->is_string() ? std::string_view(id->get_string())
                                                        : std::string_view("?"));
  }
  print_error(
      err, fmt::format("the {} items before them were queued as {} {} and stay queued: {}", items,
                       receipts.size(), receipts.size() == 1 ? "intent" : "intents", ids));
}

// POSTs the command's items as one intent per chunk (intent_chunks.h), then prints one receipt
// for all of them and, with --wait, follows them all.
int submit(const CliRequest& request, std::ostream& out, std::ostream& err) {
  ItemStream items(request);
  const PurgeBody body(request);
  IntentChunker chunker(items, body);
  std::vector<json::value> receipts;
  const auto post = [&](const std::string& text, std::size_t item_count) {
    return exchange(request, Method::post, "/v1/purge", text,
                    kRequestTimeout + std::chrono::seconds(item_count / kItemsPerExtraSecond));
  };
  const auto refused = [&](Exchange& result, std::string_view where) {
    if (request.json && !result.parsed.is_null()) out << json_line(result.parsed);
    print_error(err, fmt::format("{}{}", result.error, where));
    print_already_queued(receipts, err);
    return result.exit_code;
  };
  if (request.command == Command::everything) {
    auto result = post(body.text({}), 1);
    if (result.exit_code != kExitOk) return refused(result, "");
    receipts.push_back(std::move(result.parsed));
  }
  while (request.command != Command::everything) {
    auto chunk = chunker.next();
    if (!chunk) break;
    auto result = post(body.text(chunk->item_jsons), chunk->item_jsons.size());
    if (result.exit_code == kExitOk) {
      receipts.push_back(std::move(result.parsed));
      continue;
    }
    // The daemon's "files[12]" counts from the intent's first item: say where that one was.
    const auto where = chunk->first == 0
                           ? std::string()
                           : fmt::format(" (in the intent of items {} to {} of the input)",
                                         chunk->first + 1, chunk->first + chunk->item_jsons.size());
    if (result.http_status == 413) {
      // Too large for this daemon's limits: cut smaller and send again (nothing was queued).
      const auto refusal = refusal_of(result.parsed);
      const bool body_limit = refusal.code == "body_too_large" || refusal.code.empty();
      if ((body_limit || refusal.code == "too_many_items") &&
          chunker.refused(*chunk, body_limit, refusal.limit)) {
        continue;
      }
    }
    return refused(result, where);
  }
  if (!items.error().empty()) {
    print_error(err, fmt::format("{}: {}", to_string(request.command), items.error()));
    print_already_queued(receipts, err);
    return kExitUsage;
  }
  if (receipts.empty()) {
    print_error(err, fmt::format("{}: no items to purge (stdin had only blank lines)",
                                 to_string(request.command)));
    return kExitUsage;
  }
  const auto receipt = merge_receipts(receipts);
  // With --json and --wait only the final state is printed: one JSON document on stdout.
  if (request.json && !request.wait) out << json_line(receipt);
  if (!request.json) out << format_accepted(receipt) << format_encoded(items) << std::flush;
  if (!request.wait) return kExitOk;
  std::vector<std::string> ids;
  for (const auto& answer : receipts) {
    const auto* id = answer.as_object().if_contains("id");
    if (id == nullptr || !id->is_string() || id->get_string().empty()) {
      print_error(err, "unreadable answer from purgeqd: the accepted intent has no id");
      return kExitUnreachable;
    }
    ids.emplace_back(id->get_string());
  }
  return wait_for_intents(request, ids, true, out, err);
}

// GET or POST one resource and print it with `format` (or as JSON).
int fetch(const CliRequest& request, Method method, std::string_view target,
          std::string (*format)(const json::value&), std::ostream& out, std::ostream& err) {
  const auto result = call(request, method, target, {}, kRequestTimeout, out, err);
  if (result.exit_code != kExitOk) return result.exit_code;
  out << (request.json ? json_line(result.body) : format(result.body));
  return kExitOk;
}

}  // namespace

std::optional<std::string> whole_purge_body(const CliRequest& request, std::string& error) {
  ItemStream items(request);
  const PurgeBody body(request);
  std::vector<std::string> item_jsons;
  while (auto item = items.next()) item_jsons.push_back(body.item_json(*item));
  if (!items.error().empty()) {
    error = fmt::format("{}: {}", to_string(request.command), items.error());
    return std::nullopt;
  }
  return body.text(item_jsons);
}

std::string intent_target(std::string_view id, std::optional<std::int64_t> wait) {
  std::string target = "/v1/intents/";
  for (const char c : id) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                            (u >= '0' && u <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    target += unreserved ? std::string(1, c) : fmt::format("%{:02X}", u);
  }
  if (wait) target += fmt::format("?wait={}", *wait);
  return target;
}

std::variant<std::string, int> everything_zone(const CliRequest& request, std::ostream& out,
                                               std::ostream& err) {
  // POST /v1/expand routes the intent like a purge would and queues nothing.
  const auto result = call(request, Method::post, "/v1/expand", PurgeBody(request).text({}),
                           kRequestTimeout, out, err);
  if (result.exit_code != kExitOk) return result.exit_code;
  const auto* items = result.body.as_object().if_contains("items");
  if (items != nullptr && items->is_array() && !items->get_array().empty()) {
    const auto& first = items->get_array().front();
    if (const auto* zone = first.is_object() ? first.as_object().if_contains("zone") : nullptr;
        zone != nullptr && zone->is_string() && !zone->get_string().empty()) {
      return std::string(zone->get_string());
    }
  }
  print_error(err, "unreadable answer from purgeqd: POST /v1/expand named no zone");
  return kExitUnreachable;
}

bool confirm_everything(std::string_view zone, std::istream& in, std::ostream& err) {
  err << fmt::format("Purge EVERYTHING cached for zone {}? [y/N] ", zone) << std::flush;
  std::string answer;
  if (!std::getline(in, answer)) return false;
  const auto folded = ascii_lower(trim_space(answer));
  return folded == "y" || folded == "yes";
}

int execute(const CliRequest& request, std::ostream& out, std::ostream& err) {
  switch (request.command) {
    case Command::url:
      if (request.variants) {
        std::string error;
        const auto body = whole_purge_body(request, error);
        if (!body) {
          print_error(err, error);
          return kExitUsage;
        }
        const auto result =
            call(request, Method::post, "/v1/expand", *body, kRequestTimeout, out, err);
        if (result.exit_code != kExitOk) return result.exit_code;
        out << (request.json ? json_line(result.body) : format_variants(result.body));
        return kExitOk;
      }
      return submit(request, out, err);
    case Command::tag:
    case Command::host:
    case Command::prefix:
    case Command::everything:
      return submit(request, out, err);
    case Command::status:
      return fetch(request, Method::get, "/v1/status", format_status, out, err);
    case Command::failed:
      return fetch(request, Method::get, "/v1/failed", format_failed, out, err);
    case Command::retry_failed:
      return fetch(request, Method::post, "/v1/failed/retry", format_requeued, out, err);
    case Command::show: {
      const auto result = call(request, Method::get, intent_target(request.id, std::nullopt), {},
                               kRequestTimeout, out, err);
      if (result.exit_code != kExitOk) return result.exit_code;
      out << (request.json ? json_line(result.body) : format_intent(result.body));
      // Same meaning as after a wait: 1 when the intent ended with failures.
      return intent_verdict(result.body, false).exit_code;
    }
    case Command::wait:
      return wait_for_intents(request, {request.id}, false, out, err);
    case Command::dashboard:
      return run_dashboard(request, out, err);
  }
  return kExitUsage;
}

int run(int argc, char** argv) {
  // Piped item lists can be long; C stdio sync only slows std::cin down.
  std::ios::sync_with_stdio(false);
  ParseContext context;
  context.stdin_stream = &std::cin;
  if (const char* socket = std::getenv("PURGEQ_SOCKET"); socket != nullptr && *socket != '\0') {
    context.socket_env = socket;
  }
  context.socket_exists = [](const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
  };
  context.stderr_is_terminal = ::isatty(STDERR_FILENO) == 1;
  context.stdin_is_terminal = ::isatty(STDIN_FILENO) == 1;
  try {
    const auto parsed = parse_args(argc, argv, context);
    if (!parsed.request) {
      std::cout << parsed.out << std::flush;
      std::cerr << parsed.err << std::flush;
      return parsed.exit_code;
    }
    if (parsed.request->confirm) {
      const auto zone = everything_zone(*parsed.request, std::cout, std::cerr);
      if (const auto* code = std::get_if<int>(&zone)) return *code;
      if (!confirm_everything(std::get<std::string>(zone), std::cin, std::cerr)) {
        std::cerr << "purgeq: not confirmed; nothing was queued\n";
        return kExitUsage;
      }
    }
    const int code = execute(*parsed.request, std::cout, std::cerr);
    std::cout.flush();
    return code;
  } catch (const std::exception& e) {
    // Only resource exhaustion gets here (bad_alloc on a huge stdin); no answer was judged.
    std::cerr << "purgeq: " << e.what() << '\n';
    return kExitUnreachable;
  }
}

}  // namespace purgeq::cli
