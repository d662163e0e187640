#include "intake/api_clients.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/ascii.h"

namespace purgeq {
namespace {

bool same_token(std::string_view given, std::string_view expected) {
  // Length leaks nothing useful (token formats are public); the bytes are compared in full.
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return diff == 0;
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
  constexpr std::string_view kScheme = "bearer ";
  if (!ascii_istarts_with(authorization, kScheme)) return nullptr;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return nullptr;
  const ApiClient* found = nullptr;
  for (const auto& client : clients) {
    if (same_token(token, client.token) && found == nullptr) found = &client;
  }
  return found;
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
