// Open connections of the Unix socket, overall and per peer uid (in the style of dbus-daemon's
// limits), and whether one more may open.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace purgeq {

// Why a connection may not open (the Unix socket's counter, the TCP listener's cap).
struct ConnectionRefusal {
  std::string limit;    // the config key, e.g. "intake.max_connections_per_uid"
  std::string message;  // for the client: what is held, which limit, what to do
};

// A single uid never holds more than max_connections less a reserve (max_connections / 16, at
// least 1), so one user at its cap cannot take the last slots from everyone else, however the two
// limits are configured.
class ConnectionCounter {
 public:
  using Refusal = ConnectionRefusal;

  ConnectionCounter(std::size_t max_connections, std::size_t max_connections_per_uid);
  void set_limits(std::size_t max_connections, std::size_t max_connections_per_uid);

  // Counts the connection and returns nullopt, or says why it may not open (nothing counted).
  std::optional<Refusal> admit(long uid);
  void release(long uid);

  [[nodiscard]] std::size_t total() const { return total_; }
  [[nodiscard]] std::size_t of(long uid) const;
  // What one uid may hold: max_connections_per_uid, lowered to leave the reserve if need be.
  [[nodiscard]] std::size_t per_uid_limit() const;
  [[nodiscard]] std::size_t reserve() const;

 private:
  std::size_t max_connections_;
  std::size_t max_per_uid_;
  std::size_t total_ = 0;
  std::map<long, std::size_t> per_uid_;
};

}  // namespace purgeq
