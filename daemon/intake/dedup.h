// In-intent de-duplication: a client listing the same URL twice (or a tag in two cases) asks for
// one purge, and queueing two would spend two of the account's rate-limited slots on it.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_set>

#include "model/item.h"

namespace purgeq {

class IntentDedup {
 public:
  // True the first time an item with this zone, kind and Item::key() is offered.
  bool first(std::size_t zone_index, const Item& item);

 private:
  std::unordered_set<std::string> seen_;
};

}  // namespace purgeq
