// What purgeq makes of purgeqd's answers: the exit code, the error sentence and the human summary.
// Pure functions over (HTTP status, JSON), so the whole table is unit-testable.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/people_text.h"

namespace purgeq::cli {

// Written once for purgeq and purgeqd (model/people_text.h): format_waiting (one entry of an
// intent's "waiting_for" as a sentence), format_seconds ("1 min 30 s"), and json_for_people and
// number_for_people (--json output: integral doubles as integers, 800 not Boost.JSON's 8E2, others
// rounded to three decimals without an exponent).
using ::purgeq::format_seconds;
using ::purgeq::format_waiting;
using ::purgeq::json_for_people;
using ::purgeq::number_for_people;

// An exit code and, when there is something to complain about, the sentence for stderr (without
// the "purgeq: " prefix; empty when all is well).
struct Verdict {
  int exit_code = 0;
  std::string error;

  friend bool operator==(const Verdict&, const Verdict&) = default;
};

// done, failed and partial are final; queued and in_flight are not.
[[nodiscard]] bool is_terminal(std::string_view intent_status);

// The HTTP layer: 2xx → 0; 400/403/404/413 (and other 4xx) → 2 with the daemon's message and
// item; 5xx and anything else → 3. `body` is the parsed answer, null when it wasn't JSON.
[[nodiscard]] Verdict answer_verdict(unsigned http_status, const boost::json::value& body);

// An intent's state (GET /v1/intents/{id}): done → 0, failed/partial → 1, still queued or in
// flight → 0, or 4 when `timed_out` (the caller's wait ran out before it finished); then the
// error is the timeout sentence followed by one "\n  waiting: ..." line per waiting_reasons.
[[nodiscard]] Verdict intent_verdict(const boost::json::value& intent, bool timed_out);

// Human summaries; each ends with a newline. Missing or mistyped members are skipped, never fatal.
// "queued 3 items as intent ID"; for merge_receipts of several, "queued 600000 items as 3
// intents: ID1, ID2, ID3".
[[nodiscard]] std::string format_accepted(const boost::json::value& answer);
// The answers to the intents one command was cut into, as one: the answer itself for one,
// otherwise {"intents": [answers], "items": total, "variants": sums, "priority"}.
[[nodiscard]] boost::json::value merge_receipts(const std::vector<boost::json::value>& answers);
// The last states of several intents followed as one (--wait on a cut list), for format_outcome
// and intent_verdict: {"id": "ID1, ID2", "ids": [...], "status", "items": sums, "errors": all,
// "waiting_for": all, "intents": [states]}. "status" is done or failed when all are, partial when
// all ended otherwise, and in_flight or queued while any has not ended. One intent is returned
// as is.
[[nodiscard]] boost::json::value merge_intents(const std::vector<boost::json::value>& intents);
// "done: 3 purged" / "partial: 2 purged, 1 failed" + one "  failed KIND ITEM : CODE MESSAGE" line
// per error.
[[nodiscard]] std::string format_outcome(const boost::json::value& intent);
// format_waiting of each "waiting_for" entry, identical sentences once (an account paused for
// several zones reads the same for each); empty when there is nothing to wait for.
[[nodiscard]] std::vector<std::string> waiting_reasons(const boost::json::value& intent);
// The one-line progress shown on a terminal while waiting (no newline): counts, the first reason
// and how long the wait has lasted.
[[nodiscard]] std::string format_progress(const boost::json::value& intent,
                                          std::int64_t elapsed_seconds);
// `show`: the intent's id, status, creation time, counts by state, errors, and while it is not
// finished one "  waiting: ..." line per waiting_reasons.
[[nodiscard]] std::string format_intent(const boost::json::value& intent);
// `status`: version, uptime, queue depth by zone and kind, failed count, accounts. `now_ms` is
// the wall clock (Unix ms), to say how long ago an account's upstream started failing.
[[nodiscard]] std::string format_status(const boost::json::value& status, std::int64_t now_ms);
// format_status at the current wall-clock time.
[[nodiscard]] std::string format_status(const boost::json::value& status);
// One account's state for `status`: "ok", "paused: REASON", "rate limited for 3.5 s", or
// "upstream failing since 10:02:11Z (3 min ago, 12 failed attempts; next attempt in 40 s; last
// error: ...)". `recent_errors`: the status's list (entries with "account" and "at_ms").
[[nodiscard]] std::string format_account_state(std::string_view name,
                                               const boost::json::value& account,
                                               const boost::json::value& recent_errors,
                                               std::int64_t now_ms);
// `failed`: one line per failed item, or "no failed items".
[[nodiscard]] std::string format_failed(const boost::json::value& failed);
// `retry-failed`: "requeued N failed items".
[[nodiscard]] std::string format_requeued(const boost::json::value& answer);
// `url --variants` (POST /v1/expand): per URL "URL (zone Z): N variants" and one indented line of
// headers per variant ("(no headers)" for the key without any), or "URL (zone Z): no cache-key
// variants"; then the total.
[[nodiscard]] std::string format_variants(const boost::json::value& answer);

}  // namespace purgeq::cli
