// The Unix socket: its file, its peers, its limits.
#include "http/unix_listener.h"

#include <fmt/format.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "http/http_server_impl.h"
#include "observe/log.h"

namespace purgeq {

template class HttpServer<UnixTransport>;

namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

// Descriptors beyond the connections: the store, curl, refused connections, systemd.
constexpr rlim_t kSpareDescriptors = 256 + http_server_detail::kMaxLingering;

std::string errno_text(int error) {
  return std::strerror(error);
}

SessionLimits session_limits(const ListenerLimits& limits) {
  SessionLimits session;
  session.body_limit = limits.body_limit;
  // One deadline for every read, the header's included: a connection that sends nothing for
  // io_deadline is closed, idle or not.
  session.header_deadline = limits.io_deadline;
  session.io_deadline = limits.io_deadline;
  session.refusal_linger = limits.refusal_linger;
  return session;
}

}  // namespace

Peer UnixTransport::identify(Protocol::socket& socket) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  Peer peer;
  if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.uid = static_cast<long>(cred.uid);
    peer.gid = static_cast<long>(cred.gid);
    peer.pid = static_cast<long>(cred.pid);
  }
  return peer;
}

std::string UnixTransport::log_fields(const Peer& peer) {
  return fmt::format("uid={} pid={}", peer.uid, peer.pid);
}

void ensure_descriptor_limit(std::size_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (limit.rlim_cur > before && setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      log::info("descriptor_limit_raised", "from={} to={}", before, limit.rlim_cur);
    } else {
      limit.rlim_cur = before;
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    log::warning("descriptor_limit_low", "limit={} max_connections={} note={}", limit.rlim_cur,
                 max_connections,
                 log::quote("connections beyond the descriptor limit wait in the backlog; raise "
                            "LimitNOFILE= or lower intake.max_connections"));
  }
}

void prepare_socket_path(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw std::runtime_error(
        fmt::format("listen.socket: path \"{}\" is longer than the {} bytes a "
                    "Unix socket address allows",
                    path, sizeof(sockaddr_un{}.sun_path) - 1));
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error(fmt::format("listen.socket: cannot create directory \"{}\": {}",
                                           parent.string(), ec.message()));
    }
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error(
        fmt::format("listen.socket: cannot stat \"{}\": {}", path, errno_text(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(fmt::format(
        "listen.socket: \"{}\" exists and is not a socket; refusing to replace it", path));
  }
  // A socket file: live if something accepts on it.
  asio::io_context probe_io;
  local::socket probe(probe_io);
  boost::system::error_code ec;
  probe.connect(local::endpoint(path), ec);
  if (!ec) {
    throw std::runtime_error(fmt::format(
        "listen.socket: another process is listening on \"{}\" (is purgeqd already running?)",
        path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw std::runtime_error(fmt::format("listen.socket: cannot remove stale socket \"{}\": {}",
                                         path, errno_text(errno)));
  }
  log::notice("stale_socket_removed", "path={}", log::quote(path));
}

ListenerLimits listener_limits(const Config::Intake& intake) {
  ListenerLimits limits;
  limits.body_limit = static_cast<std::size_t>(std::max(1LL, intake.max_body_bytes));
  limits.max_connections = static_cast<std::size_t>(std::max(1LL, intake.max_connections));
  limits.max_connections_per_uid =
      static_cast<std::size_t>(std::max(1LL, intake.max_connections_per_uid));
  return limits;
}

UnixListener::UnixListener(asio::io_context& io, Handler handler, const Config::Listen& listen,
                           std::optional<int> activated_fd, ListenerLimits limits)
    : server_(
          io,
          UnixTransport{ConnectionCounter(limits.max_connections, limits.max_connections_per_uid)},
          std::move(handler), nullptr, session_limits(limits)),
      path_(listen.socket),
      max_connections_(limits.max_connections) {
  ensure_descriptor_limit(limits.max_connections);
  auto& acceptor = server_.acceptor();
  const auto per_uid = server_.transport().counter.per_uid_limit();
  if (activated_fd) {
    acceptor.assign(local(), *activated_fd);
    activated_ = true;
    log::info("listening", "socket=activated fd={} max_connections={} max_connections_per_uid={}",
              *activated_fd, limits.max_connections, per_uid);
    return;
  }
  prepare_socket_path(path_);
  gid_t gid = static_cast<gid_t>(-1);
  if (!listen.group.empty()) {
    group gr{};
    group* found = nullptr;
    std::vector<char> buffer(16384);
    if (getgrnam_r(listen.group.c_str(), &gr, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      throw std::runtime_error(fmt::format("listen.group: unknown group \"{}\"", listen.group));
    }
    gid = gr.gr_gid;
  }
  acceptor.open(local());
  // Bind under a umask that leaves the socket private, then widen it: no window where a wider
  // audience than configured could connect.
  const mode_t old_mask = umask(0177);
  boost::system::error_code ec;
  acceptor.bind(local::endpoint(path_), ec);
  umask(old_mask);
  if (ec) {
    throw std::runtime_error(
        fmt::format("listen.socket: cannot bind \"{}\": {}", path_, ec.message()));
  }
  if (gid != static_cast<gid_t>(-1) && chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    throw std::runtime_error(fmt::format("listen.group: cannot give \"{}\" to group \"{}\": {}",
                                         path_, listen.group, errno_text(errno)));
  }
  if (chmod(path_.c_str(), static_cast<mode_t>(listen.mode)) != 0) {
    throw std::runtime_error(fmt::format("listen.mode: cannot chmod \"{}\" to {:04o}: {}", path_,
                                         listen.mode, errno_text(errno)));
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
  log::info(
      "listening", "socket={} mode={:04o} group={} max_connections={} max_connections_per_uid={}",
      log::quote(path_), listen.mode, log::quote(listen.group), limits.max_connections, per_uid);
}

UnixListener::~UnixListener() {
  if (!activated_) unlink(path_.c_str());
}

void UnixListener::set_limits(const ListenerLimits& limits) {
  if (limits.max_connections > max_connections_) ensure_descriptor_limit(limits.max_connections);
  max_connections_ = limits.max_connections;
  server_.transport().counter.set_limits(limits.max_connections, limits.max_connections_per_uid);
  server_.set_limits(session_limits(limits));
}

void UnixListener::stop() {
  if (server_.stopping()) return;
  server_.stop();
  if (!activated_) unlink(path_.c_str());
}

std::size_t UnixListener::connections_of(long uid) {
  return server_.transport().counter.of(uid);
}

}  // namespace purgeq
