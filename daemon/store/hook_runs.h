// What the store keeps about completion hooks (docs/delivery.md, "Completion hooks"): for each
// intent that has hooks, one run per hook, due once every item of the intent is finished.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/item.h"
#include "model/lane.h"

namespace purgeq {

// Hook run states as stored; never renumber.
enum class HookState : int {
  waiting = 0,    // the intent still has items pending or in flight
  due = 1,        // to run at next_attempt_ms (0: now)
  running = 2,    // handed to the runner (due again on start: runs at least once)
  succeeded = 3,  // the hook exited 0 or answered 2xx
  failed = 4,     // attempts exhausted; see last_error
};
inline constexpr int kHookStateCount = 5;
[[nodiscard]] std::string_view hook_state_name(HookState state);

// One hook run as the runner and the intent view need it.
struct HookRun {
  std::int64_t intent_ref = 0;  // the store's key of the intent (for hook_items)
  std::string intent_id;
  std::string hook;
  HookState state = HookState::waiting;
  int attempts = 0;  // started so far
  std::int64_t next_attempt_ms = 0;
  std::string last_error;
  std::int64_t updated_ms = 0;
  // The intent's outcome when the run was claimed: its zone ids and item counts.
  std::vector<std::string> zone_ids;
  std::int64_t total = 0, failed = 0;
  Lane lane = Lane::normal;  // the lane the intent was accepted in (set by claim_hook_runs)
  // done | failed | partial, from the counts (only meaningful once the intent is terminal)
  [[nodiscard]] std::string_view intent_status() const {
    if (failed == 0) return "done";
    return failed >= total ? "failed" : "partial";
  }
};

// Due runs of one hook, now marked running, and when its next remaining run is due.
struct HookClaim {
  std::vector<HookRun> runs;
  std::optional<std::int64_t> next_due_ms;
};

// One item of an intent, for the hook's stdin or body; read in pages by target id.
struct HookItem {
  std::int64_t target = 0;
  std::string zone_id;
  Kind kind = Kind::file;
  std::string value;
  std::vector<Header> headers;  // a URL's cache-key headers (a variant's, say): empty otherwise
  int state = 0;                // TargetState as stored
};

// Runs by hook name and state, kept by triggers as runs change (never counted by scanning).
struct HookCount {
  std::string hook;
  HookState state = HookState::waiting;
  std::int64_t n = 0;
};

}  // namespace purgeq
