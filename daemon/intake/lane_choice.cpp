// Which of the three sources of a lane wins.
#include "intake/lane_choice.h"

namespace purgeq {

Lane choose_lane(const Config& config, const ParsedIntent& intent, const ApiClient* client,
                 const PeerIdentity* identity) {
  if (intent.lane) return *intent.lane;
  if (client != nullptr) return client->priority;
  if (identity != nullptr) {
    return access_lane(config, *identity, intent.items).value_or(Lane::normal);
  }
  return Lane::normal;
}

}  // namespace purgeq
