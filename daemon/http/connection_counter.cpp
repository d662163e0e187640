// The counter's rules and its refusal messages.
#include "http/connection_counter.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

namespace purgeq {

ConnectionCounter::ConnectionCounter(std::size_t max_connections,
                                     std::size_t max_connections_per_uid)
    : max_connections_(std::max<std::size_t>(1, max_connections)),
      max_per_uid_(std::max<std::size_t>(1, max_connections_per_uid)) {}

void ConnectionCounter::set_limits(std::size_t max_connections,
                                   std::size_t max_connections_per_uid) {
  max_connections_ = std::max<std::size_t>(1, max_connections);
  max_per_uid_ = std::max<std::size_t>(1, max_connections_per_uid);
}

std::size_t ConnectionCounter::reserve() const {
  return std::max<std::size_t>(1, max_connections_ / 16);
}

std::size_t ConnectionCounter::per_uid_limit() const {
  const std::size_t room = max_connections_ > reserve() ? max_connections_ - reserve() : 1;
  return std::min(max_per_uid_, room);
}

std::size_t ConnectionCounter::of(long uid) const {
  const auto it = per_uid_.find(uid);
  return it == per_uid_.end() ? 0 : it->second;
}

std::optional<ConnectionCounter::Refusal> ConnectionCounter::admit(long uid) {
  if (total_ >= max_connections_) {
    return Refusal{"intake.max_connections",
                   fmt::format("purgeqd has {} open connections and intake.max_connections is "
                               "{}; try again later",
                               total_, max_connections_)};
  }
  const std::size_t held = of(uid);
  const std::size_t limit = per_uid_limit();
  if (held >= limit) {
    std::string message =
        limit == max_per_uid_
            ? fmt::format(
                  "uid {} has {} open connections and intake.max_connections_per_uid is "
                  "{}; close idle connections or try again later",
                  uid, held, max_per_uid_)
            : fmt::format(
                  "uid {} has {} open connections, the most one uid may hold: "
                  "intake.max_connections_per_uid is {}, but intake.max_connections is "
                  "{} and {} are kept for other uids; close idle connections or try "
                  "again later",
                  uid, held, max_per_uid_, max_connections_, reserve());
    return Refusal{"intake.max_connections_per_uid", std::move(message)};
  }
  ++total_;
  ++per_uid_[uid];
  return std::nullopt;
}

void ConnectionCounter::release(long uid) {
  const auto it = per_uid_.find(uid);
  if (it == per_uid_.end()) return;
  if (--it->second == 0) per_uid_.erase(it);
  if (total_ > 0) --total_;
}

}  // namespace purgeq
