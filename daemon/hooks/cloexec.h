// Close-on-exec for every descriptor from `first` up: what a hook's spawn needs where glibc's
// posix_spawn cannot close them itself (posix_spawn_file_actions_addclosefrom_np is glibc 2.34+).
// The database, the sockets (Asio does not open them CLOEXEC) and the journal's descriptor must
// not reach a hook.
#pragma once

namespace purgeq {

// close_range(first, ~0, CLOSE_RANGE_CLOEXEC) (Linux 5.11+), else each descriptor listed in
// /proc/self/fd. Returns false only when neither could be done.
bool mark_cloexec_from(int first);
// The /proc/self/fd walk alone (the fallback's fallback; public for its test).
bool mark_cloexec_from_listing(int first);

}  // namespace purgeq
