#include "hooks/cloexec.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)  // linux/close_range.h, absent from older headers
#endif

namespace purgeq {

bool mark_cloexec_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
    return true;
  }
  // ENOSYS before Linux 5.9, EINVAL for the flag before 5.11: walk the table instead.
#endif
  return mark_cloexec_from_listing(first);
}

bool mark_cloexec_from_listing(int first) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  // Collected first: changing flags while reading the directory is fine, but the directory's own
  // descriptor is in the listing and is closed right after.
  std::vector<int> fds;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd < first || fd == own) continue;
    fds.push_back(static_cast<int>(fd));
  }
  ::closedir(dir);
  for (const int fd : fds) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  return true;
}

}  // namespace purgeq
