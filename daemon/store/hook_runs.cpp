#include "store/hook_runs.h"

namespace purgeq {

std::string_view hook_state_name(HookState state) {
  switch (state) {
    case HookState::waiting:
      return "waiting";
    case HookState::due:
      return "pending";
    case HookState::running:
      return "running";
    case HookState::succeeded:
      return "succeeded";
    case HookState::failed:
      return "failed";
  }
  return "unknown";
}

}  // namespace purgeq
