// What an answer from Cloudflare is reported as: the request counters and the one log line per
// verdict (rate limited, paused, refused, split, retry scheduled...), so that the driver only
// performs. The engine has already taken the answer in; its state says what comes next.
#pragma once

#include <string>

#include "dispatch/account_engine.h"
#include "dispatch/verdict.h"
#include "io/transport.h"
#include "observe/metrics.h"

namespace purgeq {

struct AnswerReport {
  const std::string& account;
  std::string zone;  // the zone's name
  const EngineFlight& flight;
  const Classified& answer;
  const HttpResponse& response;
  bool dry_run = false;
};

// Counts the request by verdict and logs it; `was_paused`: the account was auth-paused before
// the answer (a pause the answer lifted is logged as a resume).
void report_answer(const AnswerReport& report, const AccountEngine& engine, bool was_paused,
                   Clock::time_point now, Metrics& metrics);

}  // namespace purgeq
