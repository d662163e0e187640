// sd_notify and sd_listen_fds wrappers.
#include "observe/notify.h"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <stdexcept>
#include <string>

namespace purgeq::notify {
namespace {
void send(const std::string& message) {
  sd_notify(0, message.c_str());
}
}  // namespace

void ready() {
  send("READY=1");
}

void status(std::string_view text) {
  send(fmt::format("STATUS={}", text));
}

void reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                    static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

void stopping() {
  send("STOPPING=1");
}

void watchdog() {
  send("WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

std::optional<int> activated_socket() {
  const int count = sd_listen_fds(1);
  if (count <= 0) return std::nullopt;
  if (count > 1) {
    throw std::runtime_error(
        fmt::format("socket activation passed {} sockets; purgeqd listens on exactly one", count));
  }
  if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    throw std::runtime_error(
        "socket activation passed a socket that is not a listening AF_UNIX "
        "stream socket");
  }
  return SD_LISTEN_FDS_START;
}

}  // namespace purgeq::notify
