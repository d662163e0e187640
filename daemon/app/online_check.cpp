// The online config check (see the header): one round of the daemon's own resolver.
#include "app/online_check.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

#include "config/known_zones.h"
#include "io/asio_scheduler.h"
#include "io/http_client.h"
#include "resolve/zone_resolver.h"

namespace purgeq {

OnlineCheck check_zones_online(const Config& config) {
  OnlineCheck out;
  boost::asio::io_context io{1};
  SystemClocks clocks;
  AsioScheduler scheduler{io};
  HttpClient http{io};
  KnownZones known;
  ZoneResolver resolver{ResolverEnv{clocks, scheduler, http}, {}};
  ResolverHooks hooks;
  hooks.resolved = [&](const ZoneRecord& record) {
    known[record.name] = KnownZone{record, ZoneSource::cloudflare};
  };
  hooks.round_done = [&] {
    resolver.stop();
    http.cancel_all();
    io.stop();
  };
  resolver.set_hooks(std::move(hooks));
  // Every zone is asked for, as at a start with nothing stored.
  auto unresolved = std::make_shared<Config>(with_known_zones(config, {}));
  // A token this check cannot read (a systemd credential outside systemd, an unset variable)
  // cannot look anything up.
  std::erase_if(unresolved->zones, [&](const Zone& zone) {
    return unresolved->accounts.at(zone.account_index).token.empty();
  });
  resolver.reconfigure(unresolved, true);
  if (!unresolved->zones.empty()) io.run();

  const Config resolved = with_known_zones(config, known);
  for (const auto& zone : resolved.zones) {
    const auto& account = resolved.accounts.at(zone.account_index);
    if (account.token.empty()) {
      out.lines.push_back(
          fmt::format("zone {}: not looked up: account {}'s token ({}) is not "
                      "available here",
                      zone.name, account.name, account.token_source));
      continue;
    }
    const auto trouble = resolver.status().zones.find(zone.name);
    if (trouble != resolver.status().zones.end()) {
      const auto& t = trouble->second;
      if (t.refused) {
        out.problems.push_back(fmt::format(
            "zone {} (account {}, {}): {}; check the zone's name and that the token may read it "
            "(Zone:Read)",
            zone.name, account.name, account.token_source, t.error));
      } else {
        out.unreachable = true;
        out.lines.push_back(fmt::format("zone {}: not looked up: {}", zone.name, t.error));
      }
      continue;
    }
    out.lines.push_back(fmt::format("zone {}: id {} ({}), account {}, plan {}", zone.name,
                                    zone.id.empty() ? "-" : zone.id, to_string(zone.source),
                                    account.name, zone.plan.empty() ? "-" : zone.plan));
  }
  for (const auto& account : resolved.accounts) {
    if (account.plan_source == PlanSource::unresolved) continue;
    out.lines.push_back(fmt::format("account {}: paced as {} ({}){}", account.name,
                                    to_string(account.plan), to_string(account.plan_source),
                                    account.plan_note.empty() ? "" : "; " + account.plan_note));
  }
  return out;
}

}  // namespace purgeq
