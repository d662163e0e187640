// The router: one route per request, and the TCP listener's screening.
#include "api/api.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/beast/http/field.hpp>

#include "api/routes.h"
#include "control/expand.h"
#include "intake/api_clients.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;

HttpResponseMessage refuse(const HttpRequestMessage& request, ErrorDialect dialect, ErrorCode code,
                           std::string_view message) {
  return error_response(request, dialect, ErrorAnswer{code, message});
}

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
  const auto authorization = header[http::field::authorization];
  const bool missing = authorization.empty();
  std::optional<HttpResponseMessage> answer;
  ErrorCode reason = ErrorCode::not_found;
  if (missing || authenticate_client(config->api_clients, authorization) == nullptr) {
    reason = missing ? ErrorCode::missing_token : ErrorCode::bad_token;
    ++metrics_.client_auth_failures[std::string(error_name(reason))];
    answer = refuse(header, ErrorDialect::cloudflare, reason,
                    missing ? "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
                            : "Authentication error");
    // One guess per connection: a guesser must reconnect for the next.
    answer->keep_alive(false);
  } else {
    const Route route = route_of(header.method_string(), header.target());
    if (route.endpoint != Endpoint::cloudflare_purge) {
      answer =
          refuse(header, ErrorDialect::cloudflare, ErrorCode::not_found, "No route for that URI");
    } else if (!route.method_allowed) {
      reason = ErrorCode::method_not_allowed;
      answer = refuse(header, ErrorDialect::cloudflare, reason, "Method not allowed; use POST");
    }
  }
  // The TCP listener takes nothing but purges: every refusal is a refused intent.
  if (answer) {
    count_rejected(metrics_, reason);
    log_client_refusal(remote, reason);
  }
  return answer;
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
  const ApiClient* client =
      authenticate_client(config->api_clients, request[http::field::authorization]);
  const Route route = route_of(request.method_string(), request.target());
  // `config` keeps `client` alive while the submission runs, even across a reload.
  co_return co_await submit_.submit(request,
                                    Submitter{.peer = Peer{},
                                              .flavor = IntakeFlavor::cloudflare,
                                              .path_zone = route.param,
                                              .client = client,
                                              .remote = remote},
                                    config);
}

}  // namespace purgeq
