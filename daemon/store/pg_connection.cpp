#include "store/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace purgeq {

PGconn* pg_connect(const PgConnection& connection, bool read_only) {
  // Defaults the dsn may override (it comes after them): a server that stops answering over TCP
  // (a partition, a host gone without closing the connection) fails the statement within about
  // half a minute instead of holding the store thread, and with it every submission, forever.
  std::vector<const char*> keys{"connect_timeout",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "fallback_application_name",
                                "dbname"};
  std::vector<const char*> values{"5", "10", "5", "3", "30000", "purgeqd", connection.dsn.c_str()};
  // After dbname, so that it overrides a password the expanded string might carry (config
  // refuses those anyway).
  if (!connection.password.empty()) {
    keys.push_back("password");
    values.push_back(connection.password.c_str());
  }
  if (read_only) {
    keys.push_back("options");
    values.push_back("-c default_transaction_read_only=on");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (conn == nullptr) throw std::runtime_error("storage.dsn: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string reason = PQerrorMessage(conn);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    PQfinish(conn);
    throw std::runtime_error(fmt::format("storage.dsn: cannot connect to PostgreSQL: {}", reason));
  }
  // Notices (e.g. "relation already exists, skipping") are not the daemon's log lines.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

}  // namespace purgeq
