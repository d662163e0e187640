// Who submitted an intent, from SO_PEERCRED on the Unix socket.
#pragma once

namespace purgeq {

// -1 when unknown.
struct Peer {
  long uid = -1;
  long gid = -1;
  long pid = -1;
};

}  // namespace purgeq
