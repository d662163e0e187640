#include "intake/api_clients.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <string>

#include "model/ascii.h"
#include "model/secret.h"

namespace purgeq {
namespace {

// The client whose token is `token`: every token is compared, each in constant time.
const ApiClient* client_with_token(std::span<const ApiClient> clients, std::string_view token) {
  if (token.empty()) return nullptr;
  const ApiClient* found = nullptr;
  for (const auto& client : clients) {
    if (same_secret(token, client.token) && found == nullptr) found = &client;
  }
  return found;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

std::string list(const std::vector<std::string>& names) {
  return names.empty() ? "any" : fmt::format("{}", fmt::join(names, ", "));
}

std::string list(const std::vector<Kind>& kinds) {
  std::vector<std::string> names;
  for (const Kind kind : kinds) names.emplace_back(to_string(kind));
  return list(names);
}

}  // namespace

const ApiClient* authenticate_client(std::span<const ApiClient> clients,
                                     std::string_view authorization) {
  return client_with_token(clients, bearer_token(authorization));
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (!ascii_istarts_with(authorization, kScheme)) return {};
  return trimmed(authorization.substr(kScheme.size()));
}

const ApiClient* authenticate_viewer(std::span<const ApiClient> clients,
                                     std::string_view authorization) {
  constexpr std::string_view kBasic = "basic ";
  if (!ascii_istarts_with(authorization, kBasic))
    return authenticate_client(clients, authorization);
  namespace base64 = boost::beast::detail::base64;
  const auto encoded = trimmed(authorization.substr(kBasic.size()));
  // A client token is at most a few hundred bytes; anything much longer is not one.
  if (encoded.size() > 4096) return nullptr;
  std::string decoded(base64::decoded_size(encoded.size()), '\0');
  const auto [written, read] = base64::decode(decoded.data(), encoded.data(), encoded.size());
  // Decoding stops at the padding: what is left must be only that.
  if (const auto rest = encoded.substr(read);
      rest.size() > 2 || rest.find_first_not_of('=') != std::string_view::npos) {
    return nullptr;
  }
  decoded.resize(written);
  // "user:token": browsers ask for both; the user name is not checked (the token is the client).
  const auto colon = decoded.find(':');
  const std::string_view token = colon == std::string::npos
                                     ? std::string_view(decoded)
                                     : std::string_view(decoded).substr(colon + 1);
  return client_with_token(clients, token);
}

std::optional<IntakeError> check_client_access(const Config& config, const ApiClient& client,
                                               std::span<const RoutedItem> items) {
  for (const auto& routed : items) {
    const auto& zone = config.zones.at(routed.zone_index);
    const bool zone_ok = client.zones.empty() || std::find(client.zones.begin(), client.zones.end(),
                                                           zone.name) != client.zones.end();
    const bool kind_ok = client.kinds.empty() || std::find(client.kinds.begin(), client.kinds.end(),
                                                           routed.item.kind) != client.kinds.end();
    if (zone_ok && kind_ok) continue;
    const std::string rule = !zone_ok ? fmt::format("api_clients \"{}\" may purge zones: {}",
                                                    client.name, list(client.zones))
                                      : fmt::format("api_clients \"{}\" may purge kinds: {}",
                                                    client.name, list(client.kinds));
    return IntakeError{
        ErrorCode::access_denied,
        fmt::format("{}; it may not purge by {} on zone {}", rule, to_string(routed.item.kind),
                    zone.name),
        routed.item.value.empty() ? std::string(to_string(routed.item.kind)) : routed.item.value};
  }
  return std::nullopt;
}

}  // namespace purgeq
