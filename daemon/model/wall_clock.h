// Wall-clock milliseconds, the unit timestamps are stored in.
#pragma once

#include <chrono>
#include <cstdint>

namespace purgeq {

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace purgeq
