// systemd's service protocol: readiness, status, reload, stop and watchdog notifications, and the
// sockets systemd passes for socket activation. All calls are no-ops outside systemd.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace purgeq::notify {

void ready();
void status(std::string_view text);
// RELOADING=1 with MONOTONIC_USEC (systemd 253's Type=notify-reload wants it; 252 ignores it).
void reloading();
void stopping();
void watchdog();
// The interval at which WATCHDOG=1 must be sent (half of WatchdogSec), if the watchdog is on.
std::optional<std::chrono::microseconds> watchdog_interval();
// The one listening socket systemd passed (LISTEN_FDS), if any. Clears the environment so children
// don't inherit it. More than one passed socket is an error (thrown).
std::optional<int> activated_socket();

}  // namespace purgeq::notify
