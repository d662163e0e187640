// IDNA through libidn2 (the GNU reference implementation of IDNA2008 and UTS #46, already loaded
// by libcurl): its mapping (case folding, NFC, full-width dots) and validity rules are Unicode
// tables that purgeq should not re-derive.
#include "model/iri.h"

#include <fmt/format.h>
#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "model/ascii.h"
#include "model/text.h"

namespace purgeq {
namespace {

bool has_non_ascii(std::string_view text) {
  return std::any_of(text.begin(), text.end(), is_non_ascii);
}

}  // namespace

std::string percent_encode_non_ascii(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (is_non_ascii(c)) {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::variant<std::string, IriError> ascii_host(std::string_view host) {
  if (!has_non_ascii(host)) return std::string(host);
  const std::string input(host);
  char* output = nullptr;
  // Non-transitional UTS #46 processing, as browsers do: "ß" stays "ß" (xn--), capitals fold.
  const int rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  const std::unique_ptr<char, decltype(&std::free)> owned(output, &std::free);
  if (rc != IDN2_OK) {
    return IriError{
        fmt::format("host {} cannot be IDNA-encoded: {}", quote(host), idn2_strerror(rc))};
  }
  return std::string(output);
}

std::variant<std::string, IriError> ascii_url(std::string_view url) {
  if (!has_non_ascii(url)) return std::string(url);
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto authority_start = scheme_end + 3;
  const auto authority_end = std::min(url.find_first_of("/?#", authority_start), url.size());
  const auto authority = url.substr(authority_start, authority_end - authority_start);
  // The host sits after any user info and before any port; both are ASCII or refused later.
  const auto at = authority.rfind('@');
  const auto host_start = at == std::string_view::npos ? 0 : at + 1;
  auto host_end = authority.size();
  if (const auto colon = authority.rfind(':');
      colon != std::string_view::npos && colon >= host_start &&
      std::all_of(authority.begin() + static_cast<std::ptrdiff_t>(colon) + 1, authority.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    host_end = colon;
  }
  auto host = ascii_host(authority.substr(host_start, host_end - host_start));
  if (const auto* error = std::get_if<IriError>(&host)) return *error;
  std::string out(url.substr(0, authority_start));
  out += percent_encode_non_ascii(authority.substr(0, host_start));
  out += std::get<std::string>(host);
  out += authority.substr(host_end);
  out += percent_encode_non_ascii(url.substr(authority_end));
  return out;
}

std::variant<std::string, IriError> ascii_prefix(std::string_view prefix) {
  if (!has_non_ascii(prefix)) return std::string(prefix);
  const auto slash = std::min(prefix.find('/'), prefix.size());
  auto host = ascii_host(prefix.substr(0, slash));
  if (const auto* error = std::get_if<IriError>(&host)) return *error;
  return std::get<std::string>(host) + percent_encode_non_ascii(prefix.substr(slash));
}

}  // namespace purgeq
