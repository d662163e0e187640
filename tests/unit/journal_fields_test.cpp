// Tests for the journald mapping of log events: logfmt parsing (the inverse of log::quote) and
// field names journald accepts.
#include "observe/journal_fields.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observe/log.h"

namespace purgeq::log {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

TEST(ParseLogfmt, PlainAndQuotedValues) {
  EXPECT_EQ(parse_logfmt("zone=shop.example kind=file items=30"),
            (Fields{{"zone", "shop.example"}, {"kind", "file"}, {"items", "30"}}));
  EXPECT_EQ(parse_logfmt(R"(error="disk I/O error" code=10)"),
            (Fields{{"error", "disk I/O error"}, {"code", "10"}}));
  EXPECT_EQ(parse_logfmt(""), Fields{});
}

TEST(ParseLogfmt, InvertsQuoteForEveryByteItEscapes) {
  const std::string nasty = std::string("a \"b\" \\c =d\n\te\x7f") + '\x01';
  const std::string line = "message=" + quote(nasty) + " empty=" + quote("") + " n=1";
  EXPECT_EQ(parse_logfmt(line), (Fields{{"message", nasty}, {"empty", ""}, {"n", "1"}}));
}

TEST(ParseLogfmt, MalformedTailEndsTheList) {
  EXPECT_EQ(parse_logfmt(R"(a=1 b="unterminated)"), (Fields{{"a", "1"}}));
  EXPECT_EQ(parse_logfmt("a=1 =2"), (Fields{{"a", "1"}}));
  EXPECT_EQ(parse_logfmt("a=1 junk"), (Fields{{"a", "1"}}));
}

TEST(JournalFieldName, UpperCasedAndSafe) {
  EXPECT_EQ(journal_field_name("zone"), "ZONE");
  EXPECT_EQ(journal_field_name("retry_in_ms"), "RETRY_IN_MS");
  EXPECT_EQ(journal_field_name("op.kind-x"), "OP_KIND_X");
  // The intent events' "id" is what operators look for as INTENT.
  EXPECT_EQ(journal_field_name("id"), "INTENT");
}

TEST(JournalFieldName, NeverOverwritesJournalFields) {
  EXPECT_EQ(journal_field_name("message"), "PURGEQ_MESSAGE");
  EXPECT_EQ(journal_field_name("priority"), "PURGEQ_PRIORITY");
  EXPECT_EQ(journal_field_name("syslog_identifier"), "PURGEQ_SYSLOG_IDENTIFIER");
  EXPECT_EQ(journal_field_name("code_line"), "PURGEQ_CODE_LINE");
  EXPECT_EQ(journal_field_name("event"), "PURGEQ_EVENT");
  // journald ignores names that start with '_' (trusted) or a digit.
  EXPECT_EQ(journal_field_name("_pid"), "PURGEQ__PID");
  EXPECT_EQ(journal_field_name("5xx"), "PURGEQ_5XX");
  EXPECT_EQ(journal_field_name(std::string(100, 'a')).size(), 64U);
}

TEST(JournalFields, OneEntryPerField) {
  EXPECT_THAT(journal_fields(6, "purgeqd", "batch_sent", R"(zone=shop.example error="x y")"),
              ::testing::ElementsAre("MESSAGE=event=batch_sent zone=shop.example error=\"x y\"",
                                     "PRIORITY=6", "SYSLOG_IDENTIFIER=purgeqd", "EVENT=batch_sent",
                                     "ZONE=shop.example", "ERROR=x y"));
  EXPECT_THAT(journal_fields(3, "purgeqd", "stopped", ""),
              ::testing::ElementsAre("MESSAGE=event=stopped", "PRIORITY=3",
                                     "SYSLOG_IDENTIFIER=purgeqd", "EVENT=stopped"));
}

}  // namespace
}  // namespace purgeq::log
