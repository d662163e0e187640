// Listing and requeueing failed items, for admins.
#include "control/failed_routes.h"

#include <fmt/format.h>

#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <vector>

#include "intake/routing.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

// The newest failed items GET /v1/failed lists.
constexpr std::size_t kFailedListLimit = 1000;
// Items requeued per commit: a million failed items do not hold up submissions.
constexpr std::int64_t kRetryStep = 5000;

HttpResponseMessage refuse(const HttpRequestMessage& request, ErrorCode code,
                           std::string_view message) {
  return error_response(request, ErrorDialect::native, ErrorAnswer{code, message});
}

}  // namespace

FailedRoutes::FailedRoutes(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery,
                           AdminGate& admin, ProgressSignal& progress)
    : store_(store), reader_(reader), delivery_(delivery), admin_(admin), progress_(progress) {}

boost::asio::awaitable<HttpResponseMessage> FailedRoutes::list(const HttpRequestMessage& request,
                                                               const Peer& peer,
                                                               const Config& config) {
  if (auto denied = co_await admin_.check(config, peer, "GET /v1/failed")) {
    co_return refuse(request, denied->code, denied->message);
  }
  std::vector<FailedTarget> failed;
  try {
    failed =
        co_await reader_.call([](Store& store) { return store.failed_targets(kFailedListLimit); });
  } catch (const std::exception& e) {
    co_return refuse(request, ErrorCode::storage_unavailable, e.what());
  }
  json::array items;
  for (const auto& f : failed) {
    items.push_back(json::object{{"id", f.id},
                                 {"zone", zone_name_of(config, f.zone_id)},
                                 {"kind", to_string(f.kind)},
                                 {"item", f.item},
                                 {"code", f.code},
                                 {"message", f.message},
                                 {"failed_at", rfc3339_utc(f.failed_ms)}});
  }
  co_return json_response(request, http::status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<HttpResponseMessage> FailedRoutes::retry(const HttpRequestMessage& request,
                                                                const Peer& peer,
                                                                const Config& config) {
  if (auto denied = co_await admin_.check(config, peer, "POST /v1/failed/retry")) {
    co_return refuse(request, denied->code, denied->message);
  }
  std::int64_t count = 0;
  const auto now = wall_ms();
  try {
    for (;;) {
      const auto moved = co_await store_.call(
          [now](Store& store) { return store.retry_failed_step(now, kRetryStep); });
      count += moved;
      if (moved > 0) delivery_.wake();
      if (moved < kRetryStep) break;
    }
  } catch (const std::exception& e) {
    co_return refuse(request, ErrorCode::storage_unavailable,
                     fmt::format("{} (after requeueing {} items)", e.what(), count));
  }
  log::notice("failed_requeued", "items={}", count);
  progress_.notify_all();
  co_return json_response(request, http::status::ok, json::object{{"requeued", count}});
}

}  // namespace purgeq
