#include "dispatch/outcome_report.h"

#include "io/clocks.h"
#include "observe/log.h"

namespace purgeq {
void report_answer(const AnswerReport& report, const AccountEngine& engine, bool was_paused,
                   Clock::time_point now, Metrics& metrics) {
  const auto& account = report.account;
  const auto& answer = report.answer;
  const auto& flight = report.flight;
  const auto& zone = report.zone;
  const Kind kind = kind_of(flight.group);
  if (was_paused && !engine.auth_paused()) {
    log::notice("account_resumed", "account={} reason=answer verdict={}", log::quote(account),
                to_string(answer.verdict));
  }
  switch (answer.verdict) {
    case Verdict::success:
      if (!report.dry_run) ++metrics.requests[{account, "success"}];
      break;
    case Verdict::rate_limited: {
      ++metrics.requests[{account, "rate_limited"}];
      ++metrics.rate_limited;
      const auto resume = engine.limiter().paused_until(now).value_or(now);
      log::warning("rate_limited", "account={} zone={} kind={} retry_after_ms={}",
                   log::quote(account), log::quote(zone), to_string(kind), to_ms(resume - now));
      break;
    }
    case Verdict::auth_error:
      ++metrics.requests[{account, "auth_error"}];
      log::warning("account_paused",
                   "account={} reason=auth status={} code={} message={} next_probe_s={}",
                   log::quote(account), answer.status, answer.code, log::quote(answer.message),
                   std::chrono::duration_cast<std::chrono::seconds>(kAuthProbeInterval).count());
      break;
    case Verdict::zone_error:
      ++metrics.requests[{account, "zone_error"}];
      log::error("zone_error", "zone={} status={} code={} message={}", log::quote(zone),
                 answer.status, answer.code, log::quote(answer.message));
      break;
    case Verdict::rejected:
      ++metrics.requests[{account, "rejected"}];
      if (flight.members.size() <= 1) {
        for (const auto& member : flight.members) {
          log::warning("item_failed", "zone={} kind={} item={} code={} message={}",
                       log::quote(zone), to_string(kind), log::quote(member.item.value),
                       answer.code, log::quote(answer.message));
        }
      } else {
        log::info("batch_split", "zone={} kind={} items={} code={} message={}", log::quote(zone),
                  to_string(kind), flight.members.size(), answer.code, log::quote(answer.message));
      }
      break;
    case Verdict::transient: {
      ++metrics.requests[{
          account, report.response.transport_error.empty() ? "server_error" : "transport_error"}];
      ++metrics.retries_scheduled;
      const auto until = engine.backoff_until(now).value_or(now);
      log::warning("retry_scheduled",
                   "account={} zone={} kind={} items={} attempt={} delay_ms={} reason={}",
                   log::quote(account), log::quote(zone), to_string(kind), flight.members.size(),
                   engine.consecutive_failures(), to_ms(until - now), log::quote(answer.message));
      break;
    }
  }
}

}  // namespace purgeq
