// Executing a parsed purgeq command against purgeqd: the request body, the wait loop, the output.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "cli/cli_args.h"

namespace purgeq::cli {

// Bound for one request that doesn't hold (submit, status, failed, ...).
inline constexpr std::chrono::seconds kRequestTimeout{60};
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

// The POST /v1/purge body for a submit command: {"files"|"tags"|"hosts"|"prefixes": [...]} or
// {"purge_everything": true}, plus "zone" when given. With -H, each file is {"url", "headers"}.
[[nodiscard]] boost::json::object build_purge_body(const CliRequest& request);

// The target for GET /v1/intents/{id}[?wait=S], the id percent-encoded.
[[nodiscard]] std::string intent_target(std::string_view id, std::optional<std::int64_t> wait);

// `everything` on a terminal: asks "Purge EVERYTHING cached for zone X? [y/N] " on `err` and reads
// one line of `in`; true only for y or yes (any case). A purge-everything empties the zone's cache
// and sends all its traffic to the origin at once: an accidental one is an outage.
[[nodiscard]] bool confirm_everything(const CliRequest& request, std::istream& in,
                                      std::ostream& err);

// Runs `request` against purgeqd at request.socket; summaries (or --json bodies) go to `out`,
// "purgeq: ..." errors to `err`. Returns the process exit code (ExitCode).
[[nodiscard]] int execute(const CliRequest& request, std::ostream& out, std::ostream& err);

// The whole purgeq program: parses argv with stdin and $PURGEQ_SOCKET, then executes.
[[nodiscard]] int run(int argc, char** argv);

}  // namespace purgeq::cli
