// purgeqd's side of purgeq-hookd: a command hook run by the helper, behind the same HookProcess
// interface as one spawned in-process, so the runner does not care which. The helper spawns it
// with HookProcess::start as its own user; this end sends the spec, answers the helper's pulls
// for stdin from the runner's feed, and hands back the helper's result.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "hooks/hook_process.h"

namespace purgeq {

// Beyond the hook's own timeout and kill grace: how long the helper has to answer before the run
// counts as failed (a helper that hangs must not hold a hook's slot for ever).
inline constexpr std::chrono::seconds kHookdAnswerMargin{10};

// As HookProcess::start, through the helper listening on `socket_path`. A helper that cannot be
// reached, refuses, breaks the protocol or goes away completes the run with an error (never by
// running the hook in-process instead). kill_all() closes the connection: the helper then kills
// the hook's process group.
std::shared_ptr<HookProcess> start_hook_via_hookd(boost::asio::io_context& io,
                                                  const std::string& socket_path, ProcessSpec spec,
                                                  StdinFeed feed,
                                                  std::function<void(ProcessResult)> done);

}  // namespace purgeq
