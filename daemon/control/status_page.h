// The status page: one HTML file with its stylesheet and script, compiled into purgeqd
// (daemon/control/page/, embedded by cmake/embed_files.cmake). Nothing is loaded from elsewhere, so
// it works offline, and it is served under a Content-Security-Policy that allows only its own
// files and requests to purgeqd: no inline script or style, no other origin, no framing.
#pragma once

#include <string_view>

#include "http/responses.h"

namespace purgeq {

// The policy every file of the page is served with.
inline constexpr std::string_view kPageSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The text of a file of daemon/control/page ("index.html", "status.js"), empty for any other name
// (generated at build time).
std::string_view embedded_page_file(std::string_view name);

// The page for `name` "" (GET /), else the file `name` of its assets (GET /assets/status.js: a
// route's param), with its type, the policy and no caching; 404 not_found for any other name,
// index.html included (the page has one address, and its relative links resolve from it).
HttpResponseMessage page_file(const HttpRequestMessage& request, std::string_view name);

}  // namespace purgeq
