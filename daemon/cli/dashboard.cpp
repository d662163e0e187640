// The dashboard's proxy: the session loop is purgeqd's own (http/port_listener.h); each request
// the page makes is decided here and forwarded with the CLI's socket client on a worker thread, so
// a slow answer (a retry of many items) never holds up the page's other requests.
#include "cli/dashboard.h"

#include <fmt/format.h>
#include <sys/random.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <stdexcept>

#include "cli/cli_commands.h"
#include "cli/socket_client.h"
#include "http/port_listener.h"
#include "http/responses.h"
#include "model/secret.h"

namespace purgeq::cli {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

// How long the proxy lets open requests finish once told to stop.
constexpr auto kStopDeadline = std::chrono::seconds(2);

bool is_asset_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The page's requests, by path after the secret.
bool page_uses(std::string_view method, std::string_view path) {
  if (method == "POST") return path == "/v1/failed/retry";
  if (method != "GET") return false;
  if (path == "/" || path == "/v1/status" || path == "/v1/status/history" || path == "/v1/failed") {
    return true;
  }
  constexpr std::string_view kAssets = "/assets/";
  constexpr std::string_view kIntents = "/v1/intents/";
  if (path.starts_with(kAssets)) return is_asset_name(path.substr(kAssets.size()));
  if (path.starts_with(kIntents)) {
    const auto id = path.substr(kIntents.size());
    return !id.empty() && id.find('/') == std::string_view::npos;
  }
  return false;
}

ProxyDecision refusal(unsigned status, std::string code, std::string message) {
  ProxyDecision decision;
  decision.action = ProxyDecision::Action::refuse;
  decision.status = status;
  decision.code = std::move(code);
  decision.message = std::move(message);
  return decision;
}

HttpResponseMessage answer_of(const HttpRequestMessage& request, const ProxyDecision& decision) {
  if (decision.action == ProxyDecision::Action::redirect) {
    HttpResponseMessage response{http::status::found, request.version()};
    response.set(http::field::location, decision.target);
    response.set(http::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
  }
  auto response = json_response(
      request, static_cast<http::status>(decision.status),
      json::object{
          {"error", json::object{{"code", decision.code}, {"message", decision.message}}}});
  response.set(http::field::cache_control, "no-store");
  return response;
}

// One request to purgeqd, run on a worker thread: http_request blocks.
asio::awaitable<HttpAnswer> forward_blocking(std::string socket, Method method, std::string target,
                                             std::string body) {
  co_return http_request(socket, method, target, body, kRequestTimeout);
}

}  // namespace

std::string make_secret() {
  std::array<unsigned char, kSecretBytes> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const auto n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(
          fmt::format("no random bytes for the secret: {}", std::system_category().message(errno)));
    }
    filled += static_cast<std::size_t>(n);
  }
  std::string hex;
  for (const auto byte : bytes) hex += fmt::format("{:02x}", byte);
  return hex;
}

ProxyDecision decide(std::string_view method, std::string_view target, std::string_view host,
                     std::string_view origin, std::string_view secret, std::uint16_t port) {
  if (!target.starts_with('/')) {
    return refusal(404, "not_found", "no page here; open the address purgeq dashboard printed");
  }
  const auto rest = target.substr(1);
  const auto end = rest.find_first_of("/?");
  const auto given = rest.substr(0, end);
  if (!same_secret(given, secret)) {
    return refusal(404, "not_found", "no page here; open the address purgeq dashboard printed");
  }
  const std::string ip_host = fmt::format("127.0.0.1:{}", port);
  const std::string name_host = fmt::format("localhost:{}", port);
  if (host != ip_host && host != name_host) {
    return refusal(403, "access_denied",
                   fmt::format("purgeq dashboard answers only at http://{}/ (this request named "
                               "host \"{}\")",
                               ip_host, std::string(host.substr(0, 100))));
  }
  if (!origin.empty() && origin != "http://" + ip_host && origin != "http://" + name_host) {
    return refusal(403, "access_denied", "requests from another site's page are refused");
  }
  if (end == std::string_view::npos) {
    ProxyDecision redirect;
    redirect.action = ProxyDecision::Action::redirect;
    redirect.target = fmt::format("/{}/", secret);
    return redirect;
  }
  const auto forwarded = rest.substr(end);  // "/v1/status?x" or "?x"
  if (!forwarded.starts_with('/')) {
    ProxyDecision redirect;
    redirect.action = ProxyDecision::Action::redirect;
    redirect.target = fmt::format("/{}/", secret);
    return redirect;
  }
  const auto path = forwarded.substr(0, forwarded.find('?'));
  if (!page_uses(method, path)) {
    return refusal(404, "not_found",
                   fmt::format("purgeq dashboard forwards only what the status page uses, not "
                               "{} {}",
                               std::string(method), std::string(path.substr(0, 100))));
  }
  ProxyDecision decision;
  decision.action = ProxyDecision::Action::forward;
  decision.target = std::string(forwarded);
  return decision;
}

int run_dashboard(const CliRequest& request, std::ostream& out, std::ostream& err) {
  const std::string secret = make_secret();
  asio::io_context io{1};
  asio::thread_pool workers{2};
  const std::string socket = request.socket;
  std::optional<DashboardListener> listener;
  std::uint16_t port = 0;
  PortListenerOptions options;
  options.address = "127.0.0.1";
  options.port = request.port;
  const auto decision_for = [&secret, &port](const HttpRequestMessage& message) {
    return decide(message.method_string(), message.target(), message[http::field::host],
                  message[http::field::origin], secret, port);
  };
  try {
    listener.emplace(
        io,
        [&decision_for](const HttpRequestMessage& header,
                        const std::string&) -> std::optional<HttpResponseMessage> {
          const auto decision = decision_for(header);
          if (decision.action == ProxyDecision::Action::forward) return std::nullopt;
          return answer_of(header, decision);
        },
        [&decision_for, &workers, &socket](const HttpRequestMessage& message, const std::string&)
            -> asio::awaitable<HttpResponseMessage> {
          const auto decision = decision_for(message);
          if (decision.action != ProxyDecision::Action::forward) {
            co_return answer_of(message, decision);
          }
          const Method method = message.method() == http::verb::post ? Method::post : Method::get;
          auto forward = forward_blocking(socket, method, decision.target, message.body());
          const HttpAnswer answer =
              co_await asio::co_spawn(workers, std::move(forward), asio::use_awaitable);
          if (answer.failure != Failure::none) {
            // The page says "unreachable" and keeps asking: purgeqd may be restarting.
            co_return answer_of(message,
                                refusal(502, "daemon_unreachable",
                                        describe_failure(socket, answer, kRequestTimeout)));
          }
          HttpResponseMessage response{static_cast<http::status>(answer.status), message.version()};
          for (const auto& [name, value] : answer.headers) response.set(name, value);
          response.body() = answer.body;
          response.keep_alive(message.keep_alive());
          response.prepare_payload();
          co_return response;
        },
        options);
  } catch (const std::exception& e) {
    err << "purgeq: " << e.what() << '\n';
    return kExitUsage;
  }
  port = listener->port();
  listener->start();

  // Before the address is printed: whoever reads it may stop the proxy at once.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    listener->stop();
    listener->drain(kStopDeadline, [&io] { io.stop(); });
  });
  // Said at once, so the person knows before opening the page; the page keeps saying it.
  const auto probe = http_request(socket, Method::get, "/v1/status", "", std::chrono::seconds(5));
  if (probe.failure != Failure::none) {
    err << "purgeq: warning: " << describe_failure(socket, probe, std::chrono::seconds(5))
        << "; the page shows purgeqd as unreachable until it answers\n";
  } else if (probe.status == 403) {
    err << "purgeq: warning: purgeqd refuses this user its status (HTTP 403)\n";
  }
  out << fmt::format("purgeq dashboard: open http://127.0.0.1:{}/{}/\n", port, secret)
      << "(on this host only; the address is new each run and works while this runs; Ctrl-C "
         "stops it)\n"
      << std::flush;

  io.run();
  workers.join();
  return kExitOk;
}

}  // namespace purgeq::cli
