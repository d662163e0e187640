// `purgeq dashboard`: purgeqd's status page for a browser on this host. It listens on 127.0.0.1
// only (--port, or a free port), under a path holding a secret drawn afresh for this run
// (http://127.0.0.1:PORT/SECRET/), and forwards what the page asks for to purgeqd's socket as
// the user who runs it: purgeqd's access rules and admin rights judge that user, exactly as they
// judge `purgeq status` or `purgeq retry-failed`. Other local users, and web pages the browser
// opens, do not know the secret; a wrong one is refused.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "cli/cli_args.h"

namespace purgeq::cli {

// Random bytes in the path secret: 128 bits, written as 32 hex digits.
inline constexpr std::size_t kSecretBytes = 16;

// A new secret from the kernel's random source (getrandom); throws std::runtime_error if there is
// none.
[[nodiscard]] std::string make_secret();

// What the proxy does with one browser request.
struct ProxyDecision {
  enum class Action { forward, redirect, refuse };
  Action action = Action::refuse;
  std::string target;     // forward: the target on purgeqd's socket; redirect: the Location
  unsigned status = 404;  // refuse: the HTTP status
  std::string code;       // refuse: the error code, as purgeqd spells its own
  std::string message;    // refuse: why, for the page or the person
};

// Decides from the request line and its Host and Origin headers alone (Origin empty when absent):
//  - the first path segment must be `secret` (compared in constant time), else 404;
//  - Host must name this listener (127.0.0.1:PORT or localhost:PORT), else 403: a page of another
//    site cannot reach it by pointing its own name at 127.0.0.1;
//  - a POST whose Origin is another site's is refused (403);
//  - "/SECRET" redirects to "/SECRET/", where the page's relative links work;
//  - only what the page uses is forwarded: GET of the page, its assets, /v1/status,
//    /v1/status/history, /v1/failed and /v1/intents/{id}, and POST /v1/failed/retry; anything
//    else is 404.
[[nodiscard]] ProxyDecision decide(std::string_view method, std::string_view target,
                                   std::string_view host, std::string_view origin,
                                   std::string_view secret, std::uint16_t port);

// Runs the proxy for `request` (Command::dashboard) until SIGINT or SIGTERM: prints the URL to
// open on `out`, problems on `err`. Returns the exit code: 0 after a signal, 2 when the port
// cannot be had.
[[nodiscard]] int run_dashboard(const CliRequest& request, std::ostream& out, std::ostream& err);

}  // namespace purgeq::cli
