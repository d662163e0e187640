// The one hostname rule: what intake accepts as a file, host or prefix host and what config
// accepts as a zone name or host pattern, so a zone can never be configured for hosts intake
// refuses (or the other way round).
#pragma once

#include <string_view>

namespace purgeq {

// A DNS hostname as Cloudflare zones use them (RFC 1123): 1–253 characters, dot-separated labels
// of 1–63 letters, digits and '-' (not at either end of a label), no trailing dot, and not an IP
// address (the last label is not all digits). Case-insensitive.
bool is_valid_hostname(std::string_view host);

// True when the last label is all digits: the text is (or is shaped like) an IPv4 address, which
// no DNS name can be (RFC 3696 §2). Lets callers say "IP address" rather than "invalid host".
bool has_numeric_last_label(std::string_view host);

}  // namespace purgeq
