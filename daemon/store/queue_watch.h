// Tells a daemon that another daemon sharing its store queued work, so that the accounts it sends
// for look at once, or settled some, so that `?wait=` and `purgeq wait` on this daemon answer at
// once (docs/scale-out.md). A store of its own needs none: its writer sees every commit.
#pragma once

namespace purgeq {

// What other daemons' commits changed since the last call.
struct QueueNews {
  bool queued = false;      // work was queued (wake the accounts this daemon sends for)
  bool progressed = false;  // items were purged or failed (wake intent waiters and hooks)
};

class QueueWatch {
 public:
  virtual ~QueueWatch() = default;
  QueueWatch() = default;
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;
};

}  // namespace purgeq
