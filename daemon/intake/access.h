// Local access control: which peers (by uid/gid from SO_PEERCRED) may submit which kinds to which
// zones, from the config's `access:` rules, and who may use the admin endpoints (`admin:`).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "intake/intent_parser.h"
#include "model/peer.h"

namespace purgeq {

// The peer's user name and every group it belongs to (names and numeric ids, as strings).
// users[0] is the numeric uid and users[1], when present, the user's name.
struct PeerIdentity {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

// NSS buffers (getpwuid_r, getgrgid_r) start at `initial_buffer` bytes (0: sysconf's suggestion)
// and double on ERANGE up to this bound; an entry larger still is treated as unknown.
inline constexpr std::size_t kMaxNssBuffer = std::size_t{16} * 1024 * 1024;

// Looks the peer up in the user and group databases: its numeric uid and gid, its user name, and
// its groups (getgrouplist) by number and name. Blocking: NSS may ask LDAP or sssd. Call it off
// the event loop (IdentityCache does).
PeerIdentity resolve_peer(const Peer& peer, std::size_t initial_buffer = 0);

// True when `identity` is named by the rule's users or groups.
bool rule_admits(const AccessRule& rule, const PeerIdentity& identity);

// True when some access rule matches some item, so check_access needs the peer's identity.
bool access_needs_identity(const Config& config, std::span<const RoutedItem> items);

// nullopt when every item is allowed; otherwise a 403 error naming the rule and the first item it
// refuses. Without rules every peer that can open the socket may submit anything. `identity` is
// only read when access_needs_identity().
std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        const PeerIdentity& identity,
                                        std::span<const RoutedItem> items);
// The same, resolving the peer itself when a rule needs it: blocking NSS lookups, for tools and
// tests; the daemon resolves through IdentityCache, off its event loop.
std::optional<IntakeError> check_access(const Config& config, const Peer& peer,
                                        std::span<const RoutedItem> items);

// The lane `access[].priority` gives an intent of this peer: that of the first rule, in config
// order, that sets a priority, matches one of the items (zone and kind) and admits the peer;
// nullopt when none does (docs/delivery.md, "Priority lanes").
std::optional<Lane> access_lane(const Config& config, const PeerIdentity& identity,
                                std::span<const RoutedItem> items);

// Who may use the admin endpoints (list and retry failed items, read other users' intents):
// root and `self_uid` (purgeqd's own uid) always; the users and groups under `admin:` when it is
// configured; when it is not, everyone if there are no access rules (the socket's permissions are
// the gate, as before), otherwise nobody else.
//
// kAllowed and kDenied need no identity; kNeedsIdentity means: resolve the peer, then ask
// admin_admits().
enum class AdminVerdict { kAllowed, kDenied, kNeedsIdentity };
AdminVerdict admin_verdict(const Config& config, const Peer& peer, long self_uid);
bool admin_admits(const Config& config, const PeerIdentity& identity);
// The 403 for a peer that is not an admin; `action` says what was refused ("GET /v1/failed").
IntakeError admin_denied(const Config& config, const Peer& peer, const PeerIdentity* identity,
                         std::string_view action);

// Resolved identities per (uid, gid), kept for `ttl`, looked up on a thread of their own so that
// a slow NSS source (LDAP, sssd) never stalls the event loop: the loop only reads the cache and
// awaits the thread's answer on a miss. Use from one io_context thread.
class IdentityCache {
 public:
  using Lookup = std::function<PeerIdentity(const Peer&)>;
  using Clock = std::chrono::steady_clock;

  explicit IdentityCache(Lookup lookup = default_lookup(),
                         Clock::duration ttl = std::chrono::seconds(30));
  // Finishes the lookup under way (their answers are posted to their io executors), then joins.
  ~IdentityCache();
  IdentityCache(const IdentityCache&) = delete;
  IdentityCache& operator=(const IdentityCache&) = delete;

  // The peer's identity: from the cache when looked up less than `ttl` ago, else from the lookup
  // thread. Resumes on the awaiting coroutine's executor.
  boost::asio::awaitable<PeerIdentity> resolve(Peer peer);
  // Forgets every identity (after a reload, so changed groups count at once).
  void clear() { entries_.clear(); }
  // Lookups run so far (for tests).
  [[nodiscard]] std::size_t lookups() const { return lookups_; }

 private:
  static Lookup default_lookup();
  boost::asio::awaitable<PeerIdentity> look_up(Peer peer);
  void loop();

  struct Entry {
    PeerIdentity identity;
    Clock::time_point expires;
  };
  Lookup lookup_;
  Clock::duration ttl_;
  std::map<std::pair<long, long>, Entry> entries_;  // by (uid, gid); loop thread only
  std::size_t lookups_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace purgeq
