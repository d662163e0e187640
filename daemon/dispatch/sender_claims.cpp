// The driver's part in a shared store (PostgreSQL): which daemon sends for which account. Each
// daemon claims the accounts' sender locks in rounds; an account it wins paces from what any
// daemon sent for it, one it loses stops taking (its requests in flight are still answered).
#include <algorithm>

#include "dispatch/dispatcher.h"
#include "observe/log.h"

namespace purgeq {
namespace {

// How often each daemon renews its claim on the accounts (and retries the ones another daemon
// holds). A sender that dies is replaced within about this long once the server has seen its
// connection close; each round also refreshes the shared queue's counts.
constexpr auto kClaimInterval = std::chrono::seconds(1);

// A claim round's result, with the pacing history of the accounts it won.
struct ClaimRound {
  SenderClaims claims;
  std::vector<SendRecord> sends;
};

}  // namespace

void Dispatcher::claim_round() {
  claim_timer_.reset();
  if (stopping_) return;
  SenderRequest request;
  request.node = config_->storage.node;
  request.now_ms = clocks_.wall_ms();
  std::int64_t horizon_ms = 0;
  for (const auto& account : config_->accounts) {
    request.accounts.push_back(account.name);
    horizon_ms = std::max(horizon_ms, to_ms(account.limits.global_window));
  }
  std::vector<std::string> sending;
  for (const auto& [name, account] : accounts_) {
    if (account.sending) sending.push_back(name);
  }
  store_.run(
      [request, horizon_ms, sending](Store& store) {
        ClaimRound round;
        round.claims = store.claim_senders(request, kStepRows);
        // An account this daemon starts sending for paces from what any daemon sent for it.
        const bool gains = std::any_of(round.claims.sending.begin(), round.claims.sending.end(),
                                       [&](const std::string& account) {
                                         return std::find(sending.begin(), sending.end(),
                                                          account) == sending.end();
                                       });
        if (gains) round.sends = store.recent_sends(request.now_ms - horizon_ms);
        return round;
      },
      std::function<void(std::exception_ptr, ClaimRound)>(
          [this](const std::exception_ptr& error, const ClaimRound& round) {
            if (error) {
              // The session, and with it every account lock, may be gone: send nothing until a
              // round says which accounts are still this daemon's.
              log::warning("storage_error", "op=claim_senders error={}",
                           log::quote(log::describe(error)));
              for (auto& [name, account] : accounts_) {
                if (account.sending) stop_sending(name, "storage_error");
              }
            } else {
              claimed(round.claims, round.sends);
            }
            if (stopping_) return;
            claim_timer_ = scheduler_.at(clocks_.now() + kClaimInterval, [this] { claim_round(); });
          }));
}

void Dispatcher::claimed(const SenderClaims& claims, const std::vector<SendRecord>& sends) {
  senders_ = claims.senders;
  const auto now = clocks_.now();
  const auto has = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (auto& [name, account] : accounts_) {
    const bool now_sending = has(claims.sending, name);
    if (now_sending && !account.sending && !account.retired()) {
      const auto& limits = config_->accounts[account.config_index].limits;
      account.engine->resume_sending(recent_of(name, limits, sends), now);
      log::notice("sender_gained", "account={} node={} host_id={}", log::quote(name),
                  log::quote(config_->storage.node), store_.host_id());
      account.sending = true;
    } else if (!now_sending && account.sending) {
      stop_sending(name, "lock_lost");
    }
  }
  if (claims.reclaimed > 0) {
    log::notice("reclaimed", "rows={} note={}", claims.reclaimed,
                log::quote("in flight under a daemon that is gone; sent again"));
  }
  // Another daemon's settles reach this one's intent waiters through the queue watch; should
  // the watch be away, they look again at least every round.
  if (on_progress) on_progress();
  schedule_tick();
}

void Dispatcher::stop_sending(const std::string& account, std::string_view reason) {
  auto it = accounts_.find(account);
  if (it == accounts_.end() || !it->second.sending) return;
  it->second.sending = false;
  // Halves of refused batches wait for this daemon's drive(), which no longer runs for the
  // account: their rows go back to the queue for the new sender.
  for (const auto& [flight, group] : it->second.engine->release_splits()) release(flight, group);
  log::notice("sender_lost", "account={} reason={} note={}", log::quote(account), reason,
              log::quote("requests in flight are answered and recorded; no new ones"));
}

void Dispatcher::queued_elsewhere() {
  if (!started_ || stopping_) return;
  const bool any_sending = std::any_of(accounts_.begin(), accounts_.end(),
                                       [](const auto& entry) { return entry.second.sending; });
  if (!any_sending) return;  // the claim rounds keep the counts fresh enough for status
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  // An empty round: the writer publishes the counts after every commit.
  store_.run([](Store& /*store*/) { return true; },
             std::function<void(std::exception_ptr, bool)>([this](const std::exception_ptr&, bool) {
               refreshing_ = false;
               schedule_tick();
               if (std::exchange(refresh_again_, false)) queued_elsewhere();
             }));
}

}  // namespace purgeq
