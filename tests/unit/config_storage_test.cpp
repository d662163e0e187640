// storage.backend, storage.dsn and the PostgreSQL password's sources (docs/configuration.md): the
// defaults, the exact problems, and what the postgres backend does not support yet.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"

namespace purgeq {
namespace {

using ::testing::HasSubstr;

std::string with(const std::string& storage, const std::string& zone_extra = "",
                 const std::string& tail = "") {
  ::setenv("PURGEQ_STORAGE_TEST_TOKEN", "secret-token", 1);
  return R"(
accounts:
  - name: main
    token_env: PURGEQ_STORAGE_TEST_TOKEN
    plan: enterprise
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)" + zone_extra +
         "storage:\n" + storage + tail;
}

std::vector<std::string> problems_of(const std::string& yaml) {
  try {
    (void)load_config_string(yaml);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "config loaded without problems:\n" << yaml;
  return {};
}

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) text += problem + "\n";
  return text;
}

TEST(ConfigStorage, SqliteIsTheDefault) {
  const auto config = load_config_string(with("  path: /tmp/q.db\n"));
  EXPECT_EQ(config.storage.backend, Config::Storage::Backend::sqlite);
  EXPECT_TRUE(config.storage.dsn.empty());
}

TEST(ConfigStorage, PostgresWithADsnAndAPasswordFile) {
  const auto config = load_config_string(
      with("  backend: postgres\n  dsn: host=db.internal dbname=purgeq user=purgeq\n"
           "  password_file: /etc/purgeq/pg.password\n"));
  EXPECT_EQ(config.storage.backend, Config::Storage::Backend::postgres);
  EXPECT_EQ(config.storage.dsn, "host=db.internal dbname=purgeq user=purgeq");
  EXPECT_EQ(config.storage.password_file, "/etc/purgeq/pg.password");
  const auto uri = load_config_string(
      with("  backend: postgres\n  dsn: postgresql://purgeq@db.internal/purgeq?sslmode=require\n"
           "  password_credential: pg-password\n"));
  EXPECT_EQ(uri.storage.password_credential, "pg-password");
}

TEST(ConfigStorage, APasswordInTheDsnIsRefusedWithoutEchoingIt) {
  for (const std::string dsn :
       {"host=db user=purgeq password=hunter2", "host=db password = hunter2",
        "postgresql://purgeq:hunter2@db/purgeq",
        "postgres://db/purgeq?sslmode=require&password=hunter2"}) {
    const auto text = joined(problems_of(with("  backend: postgres\n  dsn: \"" + dsn + "\"\n")));
    EXPECT_THAT(text, HasSubstr("storage.dsn")) << dsn;
    EXPECT_THAT(text, HasSubstr("must not be in the YAML: use storage.password_file, a systemd "
                                "credential (storage.password_credential) or PGPASSFILE"))
        << dsn;
    EXPECT_THAT(text, ::testing::Not(HasSubstr("hunter2"))) << dsn;
  }
  // A user named like the keyword, or a password-less URI with a user, is fine.
  EXPECT_NO_THROW(load_config_string(
      with("  backend: postgres\n  dsn: \"host=db user=password_owner passfile=/x\"\n")));
  EXPECT_NO_THROW(
      load_config_string(with("  backend: postgres\n  dsn: \"postgresql://purgeq@db/q\"\n")));
}

TEST(ConfigStorage, ExactProblems) {
  EXPECT_THAT(joined(problems_of(with("  backend: mysql\n"))),
              HasSubstr("storage.backend: unknown backend \"mysql\" (use sqlite or postgres)"));
  EXPECT_THAT(joined(problems_of(with("  backend: postgres\n"))),
              HasSubstr("storage.backend is postgres but storage.dsn is not set"));
  EXPECT_THAT(joined(problems_of(with("  dsn: host=db\n"))),
              HasSubstr("apply to storage.backend postgres only"));
  EXPECT_THAT(joined(problems_of(with("  backend: postgres\n  dsn: host=db\n"
                                      "  password_file: relative/pw\n"))),
              HasSubstr("storage.password_file: must be an absolute path"));
  EXPECT_THAT(joined(problems_of(with("  backend: postgres\n  dsn: host=db\n"
                                      "  password_file: /pw\n  password_credential: pw\n"))),
              HasSubstr("both set; use one"));
}

TEST(ConfigStorage, HooksAndEscalationWorkOnBothBackends) {
  const std::string hooks = "hooks:\n  - name: warm\n    command: [\"/bin/true\"]\n";
  const std::string escalate = "    escalate: {depth: 1}\n";
  EXPECT_NO_THROW(
      load_config_string(with("  backend: postgres\n  dsn: host=db\n", escalate, hooks)));
  EXPECT_NO_THROW(load_config_string(with("  path: /tmp/q.db\n", escalate, hooks)));
}

}  // namespace
}  // namespace purgeq
