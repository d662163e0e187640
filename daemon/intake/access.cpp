// Access rules and admin rights against peer credentials; NSS lookups on a thread of their own.
#include "intake/access.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <exception>
#include <memory>
#include <system_error>

#include "observe/log.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string describe(const Item& item) {
  return item.kind == Kind::everything ? std::string("purge_everything") : bounded_item(item.value);
}

std::size_t start_size(int sysconf_name, std::size_t requested) {
  if (requested > 0) return requested;
  const long suggested = sysconf(sysconf_name);
  return suggested > 0 ? static_cast<std::size_t>(suggested) : std::size_t{16384};
}

// Runs `call(buffer, size)` (a *_r lookup returning 0 or an errno value), doubling `buffer` on
// ERANGE up to kMaxNssBuffer, retrying on EINTR. Returns the last result.
template <class Call>
int with_growing_buffer(std::vector<char>& buffer, Call call) {
  for (;;) {
    const int rc = call(buffer.data(), buffer.size());
    if (rc == EINTR) continue;
    if (rc != ERANGE || buffer.size() >= kMaxNssBuffer) return rc;
    buffer.resize(std::min(buffer.size() * 2, kMaxNssBuffer));
  }
}

std::string who(const Peer& peer, const PeerIdentity* identity) {
  if (identity != nullptr && identity->users.size() > 1) {
    return fmt::format("{} (uid {})", identity->users[1], peer.uid);
  }
  return fmt::format("uid {}", peer.uid);
}

}  // namespace

PeerIdentity resolve_peer(const Peer& peer, std::size_t initial_buffer) {
  PeerIdentity identity;
  if (peer.uid >= 0) identity.users.push_back(std::to_string(peer.uid));
  if (peer.gid >= 0) identity.groups.push_back(std::to_string(peer.gid));
  if (peer.uid < 0) return identity;

  std::vector<char> buffer(start_size(_SC_GETPW_R_SIZE_MAX, initial_buffer));
  passwd pw{};
  passwd* found = nullptr;
  const int rc = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
    return getpwuid_r(static_cast<uid_t>(peer.uid), &pw, data, size, &found);
  });
  if (rc != 0 || found == nullptr) {
    // No entry is normal (a uid known only by number); anything else is worth a line.
    if (rc != 0 && rc != ENOENT && rc != ESRCH) {
      log::warning("user_lookup_failed", "uid={} error={}", peer.uid,
                   log::quote(std::system_category().message(rc)));
    }
    return identity;
  }
  const std::string name = pw.pw_name;
  identity.users.push_back(name);

  const gid_t primary = peer.gid >= 0 ? static_cast<gid_t>(peer.gid) : pw.pw_gid;
  std::vector<gid_t> gids(64);
  for (int attempt = 0;; ++attempt) {
    int count = static_cast<int>(gids.size());
    if (getgrouplist(name.c_str(), primary, gids.data(), &count) >= 0) {
      gids.resize(static_cast<std::size_t>(std::max(count, 0)));
      break;
    }
    // glibc reports the number needed in `count`; other C libraries may not: then double.
    const auto wanted = std::max(static_cast<std::size_t>(std::max(count, 0)), gids.size() * 2);
    if (attempt >= 16 || wanted > 65536) {
      log::warning("group_lookup_failed", "uid={} note={}", peer.uid,
                   log::quote("more groups than purgeqd reads; only the primary group counts"));
      gids.assign(1, primary);
      break;
    }
    gids.resize(wanted);
  }

  buffer.resize(std::max(buffer.size(), start_size(_SC_GETGR_R_SIZE_MAX, initial_buffer)));
  for (const gid_t gid : gids) {
    const std::string number = std::to_string(gid);
    if (!contains(identity.groups, number)) identity.groups.push_back(number);
    group gr{};
    group* gfound = nullptr;
    const int grc = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
      return getgrgid_r(gid, &gr, data, size, &gfound);
    });
    if (grc == 0 && gfound != nullptr) {
      identity.groups.emplace_back(gr.gr_name);
    } else if (grc != 0 && grc != ENOENT && grc != ESRCH) {
      log::warning("group_lookup_failed", "gid={} error={}", gid,
                   log::quote(std::system_category().message(grc)));
    }
  }
  return identity;
}

bool rule_admits(const AccessRule& rule, const PeerIdentity& identity) {
  for (const auto& user : identity.users) {
    if (contains(rule.users, user)) return true;
  }
  for (const auto& group : identity.groups) {
    if (contains(rule.groups, group)) return true;
  }
  return false;
}

namespace {

bool rule_matches(const AccessRule& rule, const Zone& zone, Kind kind) {
  const bool zone_matches = rule.zones.empty() || contains(rule.zones, zone.name);
  const bool kind_matches = rule.kinds.empty() || std::find(rule.kinds.begin(), rule.kinds.end(),
                                                            kind) != rule.kinds.end();
  return zone_matches && kind_matches;
}

}  // namespace

bool access_needs_identity(const Config& config, std::span<const RoutedItem> items) {
  if (config.access.empty()) return false;
  for (const auto& routed : items) {
    const auto& zone = config.zones.at(routed.zone_index);
    for (const auto& rule : config.access) {
      if (rule_matches(rule, zone, routed.item.kind)) return true;
    }
  }
  return false;
}

std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        const PeerIdentity& identity,
                                        std::span<const RoutedItem> items) {
  if (config.access.empty()) return std::nullopt;
  for (const auto& routed : items) {
    const auto& zone = config.zones.at(routed.zone_index);
    for (const auto& rule : config.access) {
      if (!rule_matches(rule, zone, routed.item.kind)) continue;
      if (rule_admits(rule, identity)) continue;
      const std::string user =
          identity.users.size() > 1 ? identity.users[1] : fmt::format("uid {}", peer.uid);
      return IntakeError{
          ErrorCode::access_denied,
          fmt::format("access rule \"{}\" does not allow {} to purge by {} on zone {}", rule.name,
                      user, to_string(routed.item.kind), zone.name),
          describe(routed.item)};
    }
  }
  return std::nullopt;
}

std::optional<Lane> access_lane(const Config& config, const PeerIdentity& identity,
                                std::span<const RoutedItem> items) {
  for (const auto& rule : config.access) {
    if (!rule.priority || !rule_admits(rule, identity)) continue;
    for (const auto& routed : items) {
      if (rule_matches(rule, config.zones.at(routed.zone_index), routed.item.kind)) {
        return rule.priority;
      }
    }
  }
  return std::nullopt;
}

std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        std::span<const RoutedItem> items) {
  if (!access_needs_identity(config, items)) return std::nullopt;
  return check_access(config, peer, resolve_peer(peer), items);
}

AdminVerdict admin_verdict(const Config& config, const Peer& peer, long self_uid) {
  if (peer.uid == 0 || (peer.uid >= 0 && peer.uid == self_uid)) return AdminVerdict::kAllowed;
  if (!config.admin.configured) {
    // Backwards compatible: without access rules the socket's permissions were the only gate.
    return config.access.empty() ? AdminVerdict::kAllowed : AdminVerdict::kDenied;
  }
  if (peer.uid >= 0 && contains(config.admin.users, std::to_string(peer.uid))) {
    return AdminVerdict::kAllowed;
  }
  if (peer.gid >= 0 && contains(config.admin.groups, std::to_string(peer.gid))) {
    return AdminVerdict::kAllowed;
  }
  if (config.admin.users.empty() && config.admin.groups.empty()) return AdminVerdict::kDenied;
  return AdminVerdict::kNeedsIdentity;
}

bool admin_admits(const Config& config, const PeerIdentity& identity) {
  for (const auto& user : identity.users) {
    if (contains(config.admin.users, user)) return true;
  }
  for (const auto& group : identity.groups) {
    if (contains(config.admin.groups, group)) return true;
  }
  return false;
}

IntakeError admin_denied(const Config& config, const Peer& peer, const PeerIdentity* identity,
                         std::string_view action) {
  if (!config.admin.configured) {
    return IntakeError{
        ErrorCode::access_denied,
        fmt::format("{} is for admins: access rules are configured and admin is not, so only root "
                    "and purgeqd's own user may ({} is neither); name admins under admin.users or "
                    "admin.groups",
                    action, who(peer, identity)),
        {}};
  }
  return IntakeError{ErrorCode::access_denied,
                     fmt::format("{} is for admins: {} is not root, not purgeqd's own user and not "
                                 "named in admin.users or admin.groups",
                                 action, who(peer, identity)),
                     {}};
}

// --- IdentityCache -----------------------------------------------------------------------------

IdentityCache::Lookup IdentityCache::default_lookup() {
  return [](const Peer& peer) { return resolve_peer(peer); };
}

IdentityCache::IdentityCache(Lookup lookup, Clock::duration ttl)
    : lookup_(std::move(lookup)), ttl_(ttl), thread_([this] { loop(); }) {}

IdentityCache::~IdentityCache() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void IdentityCache::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every lookup answered
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

asio::awaitable<PeerIdentity> IdentityCache::look_up(Peer peer) {
  // Deliberately not a coroutine (see StoreWorker::call): the lambdas live outside any frame.
  return asio::async_initiate<const asio::use_awaitable_t<>&,
                              void(std::exception_ptr, PeerIdentity)>(
      [this, peer](auto handler) {
        // std::function needs a copyable callable; Asio's handlers are move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        // Tracked, so the io_context does not run out of work while a lookup is out.
        auto io = asio::prefer(asio::get_associated_executor(*shared),
                               asio::execution::outstanding_work.tracked);
        {
          const std::lock_guard lock(mutex_);
          jobs_.push_back([this, peer, shared, io] {
            std::exception_ptr error;
            PeerIdentity identity;
            try {
              identity = lookup_(peer);
            } catch (...) {
              error = std::current_exception();
            }
            asio::post(io, [shared, error, identity = std::move(identity)]() mutable {
              (*shared)(error, std::move(identity));
            });
          });
        }
        wake_.notify_one();
      },
      asio::use_awaitable);
}

asio::awaitable<PeerIdentity> IdentityCache::resolve(Peer peer) {
  constexpr std::size_t kMaxEntries = 4096;
  const auto key = std::pair(peer.uid, peer.gid);
  if (const auto it = entries_.find(key);
      it != entries_.end() && it->second.expires > Clock::now()) {
    co_return it->second.identity;
  }
  ++lookups_;
  PeerIdentity identity = co_await look_up(peer);
  const auto now = Clock::now();
  if (entries_.size() >= kMaxEntries) {
    std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }
  entries_.insert_or_assign(key, Entry{identity, now + ttl_});
  co_return identity;
}

}  // namespace purgeq
