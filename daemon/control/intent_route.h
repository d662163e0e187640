// GET /v1/intents/{id}[?wait=SECONDS]: an intent's state, its errors, what covered its items, why
// the rest wait, its completion hooks; held until the intent is terminal or the wait is up.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>
#include <variant>

#include "config/config.h"
#include "control/admin_gate.h"
#include "control/progress_signal.h"
#include "http/responses.h"
#include "intake/delivery_view.h"
#include "intake/intake_error.h"
#include "model/peer.h"
#include "store/store_worker.h"

namespace purgeq {

// ?wait= is capped here: a client that wants longer asks again.
inline constexpr int kMaxWaitSeconds = 3600;

// The wait=S parameter of the query string, in seconds and capped at kMaxWaitSeconds; 0 when
// absent. Boost.URL decodes it ("wait=%33%30" is 30). Errors: invalid_query, invalid_wait.
std::variant<int, IntakeError> wait_seconds_of(std::string_view query);

// Who asks for an intent: a peer of the Unix socket (its own intents, or any with admin rights),
// or an API client with the `status` scope on the TCP listener, an operator's read-only view that
// reads any intent by its id.
enum class IntentReader { peer, status_client };

class IntentRoute {
 public:
  // `reader` answers the queries; `store` (the writer) gives the latest snapshot for waiting_for;
  // `progress` wakes waiters when intents may have changed state.
  IntentRoute(StoreWorker& store, StoreWorker& reader, DeliveryView& delivery, AdminGate& admin,
              ProgressSignal& progress);

  // Another user's intent needs admin rights, unless `reader` is a status client. `config` must
  // outlive the call.
  boost::asio::awaitable<HttpResponseMessage> get(const HttpRequestMessage& request,
                                                  const Peer& peer, std::string_view id,
                                                  std::string_view query, const Config& config,
                                                  IntentReader reader = IntentReader::peer);
  // Waiters answer at once from now on (purgeqd is stopping).
  void stop();

 private:
  StoreWorker& store_;
  StoreWorker& reader_;
  DeliveryView& delivery_;
  AdminGate& admin_;
  ProgressSignal& progress_;
  bool stopping_ = false;
};

}  // namespace purgeq
