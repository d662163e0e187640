// The rules one item must satisfy, whatever body it came in: Cloudflare's purge API
// (shared/reference/cloudflare-purge-api.md §2–§4), slightly stricter where a looser item could
// never purge anything, so that nothing queued can later be refused for its shape. Validation
// also normalises: what comes out is what is stored, compared and sent.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "intake/intake_error.h"
#include "model/hostname.h"
#include "model/item.h"

namespace purgeq {

// Bounds of our own where Cloudflare documents none (reference §3.3); the ones Cloudflare does
// document are enforced too (tag 1,024 characters, host 200, 31 '/' per prefix).
inline constexpr std::size_t kMaxUrlLength = 4096;
inline constexpr std::size_t kMaxPrefixLength = 4096;
inline constexpr std::size_t kMaxTagLength = 1024;
inline constexpr std::size_t kMaxHostLength = 200;
inline constexpr std::size_t kMaxPrefixSlashes = 31;
inline constexpr std::size_t kMaxFileHeaders = 32;

// Single-item validation, without routing. `path` names the item in messages ("files[3]"); with
// an empty path the message starts with the item itself.
std::variant<Item, IntakeError> validate_file(const boost::json::value& entry,
                                              std::string_view path);
std::variant<Item, IntakeError> validate_tag(std::string_view tag, std::string_view path);
std::variant<Item, IntakeError> validate_host(std::string_view host, std::string_view path);
std::variant<Item, IntakeError> validate_prefix(std::string_view prefix, std::string_view path);

// One entry of the body's files/tags/hosts/prefixes array, by the rules of `kind` (not
// Kind::everything): tags, hosts and prefixes must be strings (not_a_string).
std::variant<Item, IntakeError> validate_entry(Kind kind, const boost::json::value& entry,
                                               std::string_view path);

// The entry as an error's `item`: the string itself, a file object's url, else its compact JSON.
std::string entry_as_item(const boost::json::value& entry);

}  // namespace purgeq
