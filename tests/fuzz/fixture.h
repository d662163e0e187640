// Shared by the fuzz targets: the fixed configuration intents are parsed against, and the
// invariants an accepted intent must satisfy. Not daemon code; built only with PURGEQ_FUZZ=ON.
#pragma once

#include <bit>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.h"
#include "intake/intent_parser.h"
#include "intake/routing.h"

namespace purgeq_fuzz {

// Three zones on two accounts, one nested inside another's wildcard and one with explicit hosts,
// so routing by host, by zone name, by zone id and the hostless kinds all have work to do. The
// access rule makes purge_everything go through check_access (fuzz_http); the small item cap makes
// too_many_items reachable; shop.example.com's cache-key variants make URLs expand (and their
// variants must pass the item rules again, check_item_round_trip).
inline constexpr const char* kFixtureYaml = R"(
listen:
  socket: /tmp/purgeq-fuzz-never-bound.sock
storage:
  path: /tmp/purgeq-fuzz-never-opened.db
dry_run: true
accounts:
  - name: main
    plan: free
    token_env: PURGEQ_FUZZ_TOKEN_NOT_SET
  - name: second
    plan: enterprise
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
  - name: example.org
    id: 11111111111111111111111111111111
    account: second
    hosts: [example.org, "*.example.org", cdn.example.net]
  - name: shop.example.com
    id: 22222222222222222222222222222222
    account: main
    variants: {CF-Device-Type: [mobile, desktop], Accept-Language: [de]}
access:
  - name: only-nobody-purges-everything
    kinds: [everything]
    groups: [purgeq-fuzz-no-such-group]
intake:
  max_items_per_intent: 40
)";

inline const purgeq::Config& fixture_config() {
  static const purgeq::Config config = [] {
    try {
      return purgeq::load_config_string(kFixtureYaml, "fuzz-fixture");
    } catch (const purgeq::ConfigError& e) {
      // The fixture itself is wrong (the config schema changed): not a finding, a broken harness.
      for (const auto& problem : e.problems())
        std::fprintf(stderr, "fixture: %s\n", problem.c_str());
      std::abort();
    }
  }();
  return config;
}

[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "purgeq fuzz invariant violated: %s\n", what);
  std::abort();
}
#define PURGEQ_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::purgeq_fuzz::invariant_failed(#cond))

// Equality of two JSON values where NaN equals NaN: Boost.JSON 1.81 reads "0e4000" as 0 * inf,
// a NaN, which operator== never finds equal to itself. Doubles are otherwise compared bit for bit.
inline bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case boost::json::kind::double_: {
      const double x = a.get_double();
      const double y = b.get_double();
      return (std::isnan(x) && std::isnan(y)) ||
             std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
    }
    case boost::json::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!same_json(x[i], y[i])) return false;
      }
      return true;
    }
    case boost::json::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      auto it = y.begin();
      for (const auto& member : x) {  // same members in the same order
        if (member.key() != it->key() || !same_json(member.value(), it->value())) return false;
        ++it;
      }
      return true;
    }
    default:
      return a == b;
  }
}

// The differential check of the daemon's JSON reader, parse_json_body (inside read_intent), against
// boost::json::parse: whatever it accepts, json::parse accepts with the same value; whatever
// json::parse refuses, it refuses (invalid_json); it refuses more only for a member named twice
// (duplicate_key). An oracle for fuzz_intent: the targets themselves run read_intent.
inline void check_json_body(std::string_view text) {
  using purgeq::ErrorCode;
  auto body = purgeq::parse_json_body(text);
  boost::system::error_code ec;
  const boost::json::value reference = boost::json::parse(text, ec);
  if (const auto* error = std::get_if<purgeq::IntakeError>(&body)) {
    PURGEQ_FUZZ_CHECK(error->code == ErrorCode::invalid_json ||
                      error->code == ErrorCode::duplicate_key);
    PURGEQ_FUZZ_CHECK(!error->message.empty());
    if (error->code == ErrorCode::invalid_json) PURGEQ_FUZZ_CHECK(ec.failed());
    return;
  }
  PURGEQ_FUZZ_CHECK(!ec.failed());
  PURGEQ_FUZZ_CHECK(same_json(std::get<boost::json::value>(body), reference));
}

// An accepted item must be accepted again, unchanged, when read back as the body gave it
// (intent_parser.h: "nothing queued can later be refused for its shape").
inline void check_item_round_trip(const purgeq::Item& item) {
  using purgeq::Kind;
  std::variant<purgeq::Item, purgeq::IntakeError> again;
  switch (item.kind) {
    case Kind::file: {
      boost::json::value entry;
      if (item.headers.empty()) {
        entry = boost::json::string(item.value);
      } else {
        boost::json::object headers;
        for (const auto& [name, value] : item.headers) headers[name] = value;
        entry = boost::json::object{{"url", item.value}, {"headers", std::move(headers)}};
      }
      again = purgeq::validate_file(entry, "again");
      break;
    }
    case Kind::tag:
      again = purgeq::validate_tag(item.value, "again");
      break;
    case Kind::host:
      again = purgeq::validate_host(item.value, "again");
      break;
    case Kind::prefix:
      again = purgeq::validate_prefix(item.value, "again");
      break;
    case Kind::everything:
      PURGEQ_FUZZ_CHECK(item.value.empty() && item.headers.empty());
      return;
  }
  if (const auto* error = std::get_if<purgeq::IntakeError>(&again)) {
    std::fprintf(stderr, "accepted item refused on re-validation: %s (%s)\n",
                 std::string(purgeq::error_name(error->code)).c_str(), error->message.c_str());
    invariant_failed("accepted item validates again");
  }
  PURGEQ_FUZZ_CHECK(std::get<purgeq::Item>(again) == item);
}

// What parse_intent promises about its answer.
inline void check_parsed(const std::variant<purgeq::ParsedIntent, purgeq::IntakeError>& parsed,
                         const purgeq::Config& config, purgeq::IntakeFlavor flavor,
                         std::optional<std::size_t> forced_zone) {
  if (const auto* error = std::get_if<purgeq::IntakeError>(&parsed)) {
    PURGEQ_FUZZ_CHECK(purgeq::error_info(error->code).http_status / 100 == 4);
    PURGEQ_FUZZ_CHECK(!error->message.empty());
    return;
  }
  const auto& intent = std::get<purgeq::ParsedIntent>(parsed);
  PURGEQ_FUZZ_CHECK(!intent.items.empty());  // an empty intent is the empty_intent error
  PURGEQ_FUZZ_CHECK(intent.items.size() <=
                    static_cast<std::size_t>(config.intake.max_items_per_intent));
  for (const auto& routed : intent.items) {
    PURGEQ_FUZZ_CHECK(routed.zone_index < config.zones.size());
    if (flavor == purgeq::IntakeFlavor::cloudflare) {
      PURGEQ_FUZZ_CHECK(routed.zone_index == *forced_zone);
    }
    const auto& item = routed.item;
    PURGEQ_FUZZ_CHECK(item.kind == purgeq::Kind::file || item.headers.empty());
    if (item.kind != purgeq::Kind::tag && item.kind != purgeq::Kind::everything) {
      PURGEQ_FUZZ_CHECK(
          purgeq::zone_owns_host(config.zones[routed.zone_index], purgeq::item_host(item)));
    }
    check_item_round_trip(item);
  }
}

}  // namespace purgeq_fuzz
