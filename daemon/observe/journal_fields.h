// Turns one logfmt event (the text log.h writes) into journald fields, so that under systemd
// `journalctl -u purgeq EVENT=batch_sent ZONE=shop.example` works without parsing messages.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace purgeq::log {

// The key=value pairs of a logfmt line as log::quote() writes them, values unquoted. A malformed
// tail (which quote() never produces) ends the list rather than guessing.
std::vector<std::pair<std::string, std::string>> parse_logfmt(std::string_view fields);

// A journald field name for a logfmt key: upper-cased, anything but A-Z, 0-9 and '_' becomes '_'.
// Names journald or systemd assign themselves (MESSAGE, PRIORITY, CODE_*, SYSLOG_*, ...) get a
// "PURGEQ_" prefix so an event's own "message" never overwrites the journal's MESSAGE.
std::string journal_field_name(std::string_view key);

// Every field of the event as "NAME=value" strings, in order: MESSAGE, PRIORITY,
// SYSLOG_IDENTIFIER, EVENT, then the event's own fields.
std::vector<std::string> journal_fields(int priority, std::string_view identifier,
                                        std::string_view event, std::string_view fields);

}  // namespace purgeq::log
