// Numbers, durations and an intent's `waiting_for` as people read them: written once for purgeq
// (show, wait, status) and for purgeqd, which adds each waiting_for entry's sentence to the intent
// it answers so that the status page says exactly what the CLI says.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace purgeq {

// "5 s", "3 min", "1 min 30 s", "5 h", "2 h 5 min", "3 d 4 h".
[[nodiscard]] std::string format_seconds(std::int64_t seconds);
// 147000 → "147,000": backlogs run into the millions, and grouped digits read at a glance.
[[nodiscard]] std::string grouped(std::int64_t n);
// A double as purgeq prints it: "800", "19.941", "0.5" (integral values without a fraction,
// others rounded to three decimals, never an exponent).
[[nodiscard]] std::string number_for_people(double number);
// `value` as one line of JSON for people and scripts alike, numbers as number_for_people.
[[nodiscard]] std::string json_for_people(const boost::json::value& value);
// One entry of an intent's "waiting_for" as a sentence, e.g. "account main is paused since
// 10:02:11Z (3 min): auth_error 10000: Authentication error; to resume: ...". Known states
// (paused, upstream_failing, rate_limited, sending, sent_elsewhere) read as prose; any other
// state, or an entry missing what its state needs, is shown as the state with its members
// (key=value; a `sentence` member, which purgeqd adds, is left out).
[[nodiscard]] std::string format_waiting(const boost::json::value& entry);

}  // namespace purgeq
