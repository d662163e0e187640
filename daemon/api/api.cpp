// The router: one route per request, and the TCP listener's screening.
#include "api/api.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/beast/http/field.hpp>

#include "api/routes.h"
#include "control/expand.h"
#include "control/status_page.h"
#include "intake/api_clients.h"
#include "model/secret.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;

HttpResponseMessage refuse(const HttpRequestMessage& request, ErrorDialect dialect, ErrorCode code,
                           std::string_view message) {
  return error_response(request, dialect, ErrorAnswer{code, message});
}

// What a TCP request needs its client's token to allow.
enum class TcpScope { purge, status, none };

TcpScope tcp_scope(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::cloudflare_purge:
      return TcpScope::purge;
    case Endpoint::page:
    case Endpoint::status:
    case Endpoint::status_history:
    case Endpoint::intent:
    case Endpoint::failed:
    case Endpoint::retry_failed:
      return TcpScope::status;
    default:
      return TcpScope::none;
  }
}

std::string scopes_text(const ClientScopes& scopes) {
  if (scopes.purge && scopes.status) return "purge, status";
  return scopes.purge ? "purge" : scopes.status ? "status" : "none";
}

// A browser asked without credentials: it offers the user a prompt (the token as the password).
constexpr std::string_view kStatusRealm = R"(Basic realm="purgeq status", charset="UTF-8")";

}  // namespace

Api::Api(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, Metrics& metrics,
         std::shared_ptr<const Config> config)
    : metrics_(metrics),
      config_(std::move(config)),
      submit_(store, delivery, metrics, identities_),
      admin_(identities_, static_cast<long>(geteuid())),
      intents_(store, reader, delivery, admin_, progress_),
      failed_(store, reader, delivery, admin_, progress_),
      status_(store, reader, delivery, metrics) {}

void Api::stop_intake() {
  submit_.stop();
  intents_.stop();
}

boost::asio::awaitable<HttpResponseMessage> Api::handle(const HttpRequestMessage& request,
                                                        const Peer& peer) {
  // A reload while a request runs must not change the rules under it.
  const auto config = config_;
  const Route route = route_of(request.method_string(), request.target());
  if (!route.method_allowed) {
    if (route.endpoint == Endpoint::cloudflare_purge) {
      co_return refuse(request, ErrorDialect::cloudflare, ErrorCode::method_not_allowed,
                       "Method not allowed; use POST");
    }
    co_return refuse(request, ErrorDialect::native, ErrorCode::method_not_allowed,
                     fmt::format("use POST {}", route.path));
  }
  switch (route.endpoint) {
    case Endpoint::purge:
      co_return co_await submit_.submit(request, Submitter{.peer = peer}, config);
    case Endpoint::cloudflare_purge:
      co_return co_await submit_.submit(
          request,
          Submitter{.peer = peer, .flavor = IntakeFlavor::cloudflare, .path_zone = route.param},
          config);
    case Endpoint::expand:
      co_return expand(request, *config);
    case Endpoint::intent:
      co_return co_await intents_.get(request, peer, route.param, route.query, *config);
    case Endpoint::status:
      co_return co_await status_.status(request, *config);
    case Endpoint::status_history:
      co_return status_.history(request);
    case Endpoint::page:
      co_return page_file(request, route.param);
    case Endpoint::failed:
      co_return co_await failed_.list(request, peer, *config);
    case Endpoint::retry_failed:
      co_return co_await failed_.retry(request, peer, *config);
    case Endpoint::metrics:
      co_return co_await status_.metrics(request, *config);
    case Endpoint::healthz:
      co_return co_await status_.healthz(request);
    case Endpoint::none:
      break;
  }
  co_return refuse(request, ErrorDialect::native, ErrorCode::not_found,
                   fmt::format("no route for {} {}", std::string(request.method_string()),
                               std::string(route.path)));
}

std::optional<HttpResponseMessage> Api::screen_client(const HttpRequestMessage& header,
                                                      const std::string& remote) {
  const auto config = config_;
  const Route route = route_of(header.method_string(), header.target());
  const TcpScope scope = tcp_scope(route.endpoint);
  // purgeqd's own routes answer in its own shape; everything else as Cloudflare would.
  const bool status = scope == TcpScope::status;
  const auto dialect = status ? ErrorDialect::native : ErrorDialect::cloudflare;
  const auto authorization = header[http::field::authorization];
  const bool missing = authorization.empty();
  const ApiClient* client = status ? authenticate_viewer(config->api_clients, authorization)
                                   : authenticate_client(config->api_clients, authorization);
  std::optional<HttpResponseMessage> answer;
  ErrorCode reason = ErrorCode::not_found;
  if (client == nullptr) {
    reason = !missing ? ErrorCode::bad_token
             : status ? ErrorCode::token_required
                      : ErrorCode::missing_token;
    ++metrics_.client_auth_failures[std::string(error_name(reason))];
    answer = refuse(header, dialect, reason,
                    status    ? (missing ? "the status page and its routes need the token of an "
                                           "api_clients entry with the status scope (Authorization: "
                                           "Bearer TOKEN, or Basic with the token as the password)"
                                         : "not the token of an api_clients entry")
                    : missing ? "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
                              : "Authentication error");
    if (status) answer->set(http::field::www_authenticate, kStatusRealm);
    // One guess per connection: a guesser must reconnect for the next.
    answer->keep_alive(false);
  } else if (scope == TcpScope::none) {
    answer = refuse(header, dialect, ErrorCode::not_found, "No route for that URI");
  } else if (!route.method_allowed) {
    reason = ErrorCode::method_not_allowed;
    answer = refuse(header, dialect, reason, "Method not allowed; use POST");
  } else if (scope == TcpScope::purge && !client->scopes.purge) {
    reason = ErrorCode::access_denied;
    answer = refuse(header, dialect, reason,
                    fmt::format("api_clients \"{}\" may not purge: its scopes are {}", client->name,
                                scopes_text(client->scopes)));
  } else if (status && !client->scopes.status) {
    reason = ErrorCode::access_denied;
    answer = refuse(header, dialect, reason,
                    fmt::format("api_clients \"{}\" may not read status: its scopes are {}; add "
                                "status to its scopes",
                                client->name, scopes_text(client->scopes)));
  }
  if (answer) {
    // Refused purges and unknown routes count as refused intents, as they always did; a refused
    // look at the status does not.
    if (!status) count_rejected(metrics_, reason);
    log_client_refusal(remote, reason);
  }
  return answer;
}

std::optional<HttpResponseMessage> Api::screen_metrics(const HttpRequestMessage& header,
                                                       const std::string& remote) {
  const auto config = config_;
  const Route route = route_of(header.method_string(), header.target());
  if (route.endpoint != Endpoint::metrics) {
    return refuse(header, ErrorDialect::native, ErrorCode::not_found,
                  "the metrics port serves GET /metrics and nothing else");
  }
  const auto& token = config->metrics.token;
  if (token.empty()) return std::nullopt;
  const auto authorization = header[http::field::authorization];
  if (same_secret(bearer_token(authorization), token)) return std::nullopt;
  const ErrorCode reason = authorization.empty() ? ErrorCode::token_required : ErrorCode::bad_token;
  ++metrics_.client_auth_failures[std::string(error_name(reason))];
  log_client_refusal(remote, reason);
  auto answer = refuse(header, ErrorDialect::native, reason,
                       authorization.empty()
                           ? "the metrics port needs its token: Authorization: Bearer TOKEN "
                             "(metrics.token_file, token_env or token_credential)"
                           : "not the metrics port's token");
  answer.set(http::field::www_authenticate, R"(Bearer realm="purgeq metrics")");
  answer.keep_alive(false);
  return answer;
}

boost::asio::awaitable<HttpResponseMessage> Api::handle_metrics(const HttpRequestMessage& request,
                                                                const std::string& remote) {
  // Screened on its header already; again here because a reload may have come in between.
  if (auto refused = screen_metrics(request, remote)) co_return std::move(*refused);
  const auto config = config_;
  co_return co_await status_.metrics(request, *config);
}

void Api::log_client_refusal(const std::string& remote, ErrorCode reason) {
  // A token guesser must not flood the journal: one line per interval, with the count.
  if (!client_refusals_.due()) return;
  log::warning("client_refused", "remote={} reason={} refused={}", remote, error_name(reason),
               client_refusals_.count());
  client_refusals_.logged();
}

boost::asio::awaitable<HttpResponseMessage> Api::handle_client(const HttpRequestMessage& request,
                                                               const std::string& remote) {
  // Screened on its header already; again here because a reload may have come in between.
  if (auto refused = screen_client(request, remote)) co_return std::move(*refused);
  const auto config = config_;
  const Route route = route_of(request.method_string(), request.target());
  if (tcp_scope(route.endpoint) == TcpScope::status) {
    co_return co_await handle_status_client(request, remote, *config);
  }
  const ApiClient* client =
      authenticate_client(config->api_clients, request[http::field::authorization]);
  // `config` keeps `client` alive while the submission runs, even across a reload.
  co_return co_await submit_.submit(request,
                                    Submitter{.peer = Peer{},
                                              .flavor = IntakeFlavor::cloudflare,
                                              .path_zone = route.param,
                                              .client = client,
                                              .remote = remote},
                                    config);
}

boost::asio::awaitable<HttpResponseMessage> Api::handle_status_client(
    const HttpRequestMessage& request, const std::string& remote, const Config& config) {
  const Route route = route_of(request.method_string(), request.target());
  switch (route.endpoint) {
    case Endpoint::page:
      co_return page_file(request, route.param);
    case Endpoint::status:
      co_return co_await status_.status(request, config);
    case Endpoint::status_history:
      co_return status_.history(request);
    case Endpoint::intent:
      co_return co_await intents_.get(request, Peer{}, route.param, route.query, config,
                                      IntentReader::status_client);
    default:
      break;
  }
  // Failed items name URLs and retrying them changes the queue: for admins, who are local users.
  log::info("admin_denied", "remote={} action={}", remote,
            log::quote(fmt::format("{} {}", std::string(request.method_string()),
                                   std::string(route.path))));
  co_return refuse(request, ErrorDialect::native, ErrorCode::access_denied,
                   "failed items are listed and retried by admins on the Unix socket (purgeq "
                   "failed, purgeq retry-failed, or purgeq dashboard on the host)");
}

}  // namespace purgeq
