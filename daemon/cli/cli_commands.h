// Executing a parsed purgeq command against purgeqd: the request body, the wait loop, the output.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "cli/cli_args.h"

namespace purgeq::cli {

// Bound for one request that doesn't hold (submit, status, failed, ...).
inline constexpr std::chrono::seconds kRequestTimeout{60};
// A submit's bound grows by a second per this many items: purgeqd validates and stores an intent
// before it answers, about 10 s per 100,000 URLs on a busy two-core host, and a submit that timed
// out leaves the caller not knowing whether it was queued.
inline constexpr std::size_t kItemsPerExtraSecond = 2'000;
// Longest ?wait= per poll: long enough to be cheap, short enough that a dead daemon shows soon.
inline constexpr std::chrono::seconds kMaxPollWait{30};
// ?wait= per poll when a progress line is shown: short, so the line moves every few seconds.
inline constexpr std::chrono::seconds kProgressPollWait{2};
// Extra time granted on top of ?wait=S before a poll counts as unanswered.
inline constexpr std::chrono::seconds kPollGrace{10};
// After an accepted intent, a wait that loses purgeqd (restart, 5xx) asks again after these
// pauses, doubling from the first to the last, until the intent ends or the wait runs out.
inline constexpr std::chrono::milliseconds kReconnectFirst{250};
inline constexpr std::chrono::milliseconds kReconnectMax{5000};

// The POST /v1/purge (or /v1/expand) body with every item of `request` in one intent, encoded as
// sent (cli/intent_chunks.h builds it): for `url --variants`, which queues nothing. nullopt with
// `error` set when an item cannot be put in ASCII form.
[[nodiscard]] std::optional<std::string> whole_purge_body(const CliRequest& request,
                                                          std::string& error);

// The target for GET /v1/intents/{id}[?wait=S], the id percent-encoded.
[[nodiscard]] std::string intent_target(std::string_view id, std::optional<std::int64_t> wait);

// The name of the zone `everything` would purge, as purgeqd routes it (POST /v1/expand, which
// queues nothing): --zone's name, or its id's name, or the only configured zone's. Otherwise the
// exit code, after the daemon's reason was printed on `err`.
[[nodiscard]] std::variant<std::string, int> everything_zone(const CliRequest& request,
                                                             std::ostream& out, std::ostream& err);

// `everything` on a terminal: asks "Purge EVERYTHING cached for zone ZONE? [y/N] " on `err` and
// reads one line of `in`; true only for y or yes (any case). A purge-everything empties the
// zone's cache and sends all its traffic to the origin at once: an accidental one is an outage.
[[nodiscard]] bool confirm_everything(std::string_view zone, std::istream& in, std::ostream& err);

// Runs `request` against purgeqd at request.socket; summaries (or --json bodies) go to `out`,
// "purgeq: ..." errors to `err`. Returns the process exit code (ExitCode).
[[nodiscard]] int execute(const CliRequest& request, std::ostream& out, std::ostream& err);

// The whole purgeq program: parses argv with stdin and $PURGEQ_SOCKET, then executes.
[[nodiscard]] int run(int argc, char** argv);

}  // namespace purgeq::cli
