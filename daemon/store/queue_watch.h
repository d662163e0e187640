// Tells a daemon that another daemon sharing its store queued work, so that the accounts it sends
// for look at once (docs/scale-out.md). A store of its own needs none: its writer sees every
// submission.
#pragma once

namespace purgeq {

class QueueWatch {
 public:
  virtual ~QueueWatch() = default;
  QueueWatch() = default;
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;
};

}  // namespace purgeq
