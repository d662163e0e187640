// Who is calling on the TCP listener: Cloudflare API clients carry a bearer token, and each token
// belongs to one `api_clients:` entry whose rules say which zones and kinds it may purge. Unlike
// the Unix socket there is no SO_PEERCRED here, so the token is the only identity there is.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "intake/intent_parser.h"

namespace purgeq {

// The client an `Authorization: Bearer <token>` header value names, or nullptr (no header, another
// scheme, an unknown token). Every configured token is compared, each in constant time, so the
// answer's timing says nothing about how much of a token matched.
const ApiClient* authenticate_client(std::span<const ApiClient> clients,
                                     std::string_view authorization);
// The token of an `Authorization: Bearer <token>` header value, without surrounding spaces; empty
// for another scheme or none.
std::string_view bearer_token(std::string_view authorization);
// The same as authenticate_client, also accepting `Authorization: Basic` with the token as the
// password (any user name): how a browser sends it after asking, for the status page on the TCP
// listener.
const ApiClient* authenticate_viewer(std::span<const ApiClient> clients,
                                     std::string_view authorization);

// nullopt when `client` may purge every item; otherwise a 403 error naming the client, the rule it
// breaks and the first item refused.
std::optional<IntakeError> check_client_access(const Config& config, const ApiClient& client,
                                               std::span<const RoutedItem> items);

}  // namespace purgeq
