// Executing purgeq commands: one request per command, plus the ?wait= polling loop for --wait/wait.
#include "cli/cli_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/cli_output.h"
#include "cli/socket_client.h"

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

// Sends one request and applies answer_verdict. With --json the daemon's body is printed on
// stdout even for refusals, so scripts can read the error's code and item.
CallResult call(const CliRequest& request, Method method, std::string_view target,
                std::string_view body, std::chrono::seconds timeout, std::ostream& out,
                std::ostream& err) {
  CallResult result;
  const auto answer = http_request(request.socket, method, target, body, timeout);
  if (answer.failure != Failure::none) {
    print_error(err, describe_failure(request.socket, answer, timeout));
    result.exit_code = kExitUnreachable;
    return result;
  }
  boost::system::error_code parse_error;
  json::value parsed = json::parse(answer.body, parse_error);
  if (parse_error) parsed = nullptr;
  const auto verdict = answer_verdict(answer.status, parsed);
  if (verdict.exit_code != kExitOk) {
    if (request.json && !parsed.is_null()) out << json::serialize(parsed) << '\n';
    print_error(err, verdict.error);
    result.exit_code = verdict.exit_code;
    return result;
  }
  if (!parsed.is_object()) {
    print_error(err, fmt::format("unreadable answer from purgeqd (HTTP {}): {}", answer.status,
                                 parse_error ? parse_error.message() : "not a JSON object"));
    result.exit_code = kExitUnreachable;
    return result;
  }
  result.body = std::move(parsed);
  return result;
}

std::string_view status_of(const json::value& intent) {
  const auto* status = intent.as_object().if_contains("status");
  return status != nullptr && status->is_string() ? std::string_view(status->get_string())
                                                  : std::string_view();
}

// Polls GET /v1/intents/{id}?wait=S until the intent is terminal or request.timeout has passed.
int wait_for_intent(const CliRequest& request, std::string_view id, std::ostream& out,
                    std::ostream& err) {
  const auto start = steady_clock::now();
  std::optional<steady_clock::time_point> deadline;
  if (request.timeout) deadline = start + *request.timeout;
  for (;;) {
    const auto round_start = steady_clock::now();
    std::int64_t wait = kMaxPollWait.count();
    if (deadline) {
      // Rounded up: a poll for the last fraction of a second must hold, not return at once.
      const auto remaining =
          std::chrono::ceil<std::chrono::seconds>(*deadline - round_start).count();
      wait = std::clamp<std::int64_t>(remaining, 0, kMaxPollWait.count());
    }
    const auto result = call(request, Method::get, intent_target(id, wait), {},
                             std::chrono::seconds(wait) + kPollGrace, out, err);
    if (result.exit_code != kExitOk) return result.exit_code;
    const auto status = status_of(result.body);
    if (status.empty()) {
      print_error(err, fmt::format("unreadable answer from purgeqd: intent {} has no status", id));
      return kExitUnreachable;
    }
    const auto now = steady_clock::now();
    const bool terminal = is_terminal(status);
    const bool timed_out = !terminal && deadline && now >= *deadline;
    if (terminal || timed_out) {
      if (request.json) {
        out << json::serialize(result.body) << '\n';
      } else if (terminal) {
        out << format_outcome(result.body);
      }
      const auto verdict = intent_verdict(result.body, timed_out);
      if (!verdict.error.empty()) print_error(err, verdict.error);
      return verdict.exit_code;
    }
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

int submit(const CliRequest& request, std::ostream& out, std::ostream& err) {
  const auto body = json::serialize(build_purge_body(request));
  const auto result = call(request, Method::post, "/v1/purge", body, kRequestTimeout, out, err);
  if (result.exit_code != kExitOk) return result.exit_code;
  if (!request.wait) {
    out << (request.json ? json::serialize(result.body) + '\n' : format_accepted(result.body));
    return kExitOk;
  }
  // With --json only the final intent is printed: one JSON document on stdout.
  if (!request.json) out << format_accepted(result.body) << std::flush;
  const auto* id = result.body.as_object().if_contains("id");
  if (id == nullptr || !id->is_string() || id->get_string().empty()) {
    print_error(err, "unreadable answer from purgeqd: the accepted intent has no id");
    return kExitUnreachable;
  }
  return wait_for_intent(request, std::string_view(id->get_string()), out, err);
}

// GET or POST one resource and print it with `format` (or as JSON).
int fetch(const CliRequest& request, Method method, std::string_view target,
          std::string (*format)(const json::value&), std::ostream& out, std::ostream& err) {
  const auto result = call(request, method, target, {}, kRequestTimeout, out, err);
  if (result.exit_code != kExitOk) return result.exit_code;
  out << (request.json ? json::serialize(result.body) + '\n' : format(result.body));
  return kExitOk;
}

}  // namespace

json::object build_purge_body(const CliRequest& request) {
  json::object body;
  switch (request.command) {
    case Command::url: {
      json::array files;
      files.reserve(request.items.size());
      json::object headers;
      for (const auto& [name, value] : request.headers) headers[name] = value;
      for (const auto& url : request.items) {
        if (request.headers.empty()) {
          files.emplace_back(url);
        } else {
          files.emplace_back(json::object{{"url", url}, {"headers", headers}});
        }
      }
      body["files"] = std::move(files);
      break;
    }
    case Command::tag:
    case Command::host:
    case Command::prefix: {
      json::array items;
      items.reserve(request.items.size());
      for (const auto& item : request.items) items.emplace_back(item);
      const std::string_view key = request.command == Command::tag    ? "tags"
                                   : request.command == Command::host ? "hosts"
                                                                      : "prefixes";
      body[key] = std::move(items);
      break;
    }
    case Command::everything:
      body["purge_everything"] = true;
      break;
    default:
      break;
  }
  if (!request.zone.empty()) body["zone"] = request.zone;
  return body;
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

int execute(const CliRequest& request, std::ostream& out, std::ostream& err) {
  switch (request.command) {
    case Command::url:
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
      out << (request.json ? json::serialize(result.body) + '\n' : format_intent(result.body));
      // Same meaning as after a wait: 1 when the intent ended with failures.
      return intent_verdict(result.body, false).exit_code;
    }
    case Command::wait:
      return wait_for_intent(request, request.id, out, err);
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
  try {
    const auto parsed = parse_args(argc, argv, context);
    if (!parsed.request) {
      std::cout << parsed.out << std::flush;
      std::cerr << parsed.err << std::flush;
      return parsed.exit_code;
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
