// libFuzzer target: a purge request's body through purgeq::read_intent, the function the daemon
// runs on it (SubmitRoute::submit, /v1/expand): parse_json_body, then parse_intent against a
// fixed three-zone config (fixture.h), then the invariants an accepted intent must satisfy. The
// JSON reader is also held to boost::json::parse (check_json_body, fixture.h).
//
// Input: byte 0 picks the flavor and, for the cloudflare flavor, the zone named by the URL path;
// the rest is the request body.
//   byte0 & 1 == 0   native    (POST /v1/purge)
//   byte0 & 1 == 1   cloudflare (POST /client/v4/zones/{id}/purge_cache), zone (byte0 >> 1) % 4:
//                    0..2 a configured zone, 3 none (a path zone that matched nothing)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const purgeq::Config& config = purgeq_fuzz::fixture_config();
  const std::uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const auto flavor =
      (selector & 1U) != 0 ? purgeq::IntakeFlavor::cloudflare : purgeq::IntakeFlavor::native;
  std::optional<std::size_t> forced_zone;
  if (flavor == purgeq::IntakeFlavor::cloudflare) {
    const std::size_t pick = (selector >> 1U) % (config.zones.size() + 1);
    if (pick < config.zones.size()) forced_zone = pick;
  }

  const auto parsed = purgeq::read_intent(body, config, flavor, forced_zone);
  purgeq_fuzz::check_json_body(body);
  if (flavor == purgeq::IntakeFlavor::cloudflare && !forced_zone) {
    PURGEQ_FUZZ_CHECK(std::holds_alternative<purgeq::IntakeError>(parsed));
    return 0;
  }
  purgeq_fuzz::check_parsed(parsed, config, flavor, forced_zone);
  return 0;
}
