// Internationalised URLs, hosts and prefixes (IRIs) in the ASCII form that browsers send and that
// Cloudflare's cache keys hold: hostnames IDNA-encoded (UTS #46 non-transitional, what browsers
// use, by libidn2), non-ASCII bytes of the path and query percent-encoded as UTF-8. Text that is
// already ASCII is returned unchanged, byte for byte: purgeq never rewrites what it can send as is.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace purgeq {

// Why a text could not be put in ASCII form; `message` is a sentence naming the part at fault.
struct IriError {
  std::string message;
};

// "https://Bücher.example/Straße?q=ä" -> "https://xn--bcher-kva.example/Stra%C3%9Fe?q=%C3%A4".
// Only the host (between "://" and the first '/', '?' or '#', after any "user@" and before any
// ":port") is IDNA-encoded; everything else keeps its ASCII bytes. Text that is not an absolute
// URL is returned as given: the daemon refuses it with its own rule.
[[nodiscard]] std::variant<std::string, IriError> ascii_url(std::string_view url);

// "bücher.example" -> "xn--bcher-kva.example".
[[nodiscard]] std::variant<std::string, IriError> ascii_host(std::string_view host);

// A purge prefix, "host/path": the host IDNA-encoded, the path's non-ASCII bytes percent-encoded.
[[nodiscard]] std::variant<std::string, IriError> ascii_prefix(std::string_view prefix);

// Every byte >= 0x80 as %XX (upper-case hex, as browsers write it); other bytes as given.
[[nodiscard]] std::string percent_encode_non_ascii(std::string_view text);

}  // namespace purgeq
