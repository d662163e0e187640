// Per-zone planning: merge duplicates, let broad pending purges carry the narrower ones they
// cover, then cut what is left into full, single-kind batches, oldest first.
#include "planner/planner.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "planner/coverage.h"

namespace purgeq {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

struct Node {
  const PlanTarget* target = nullptr;
  std::optional<Reach> reach;  // host/path for files, hosts and prefixes
  bool eligible = false;       // not_before <= now
  std::size_t parent = kNone;  // the node this one rides with: its duplicate's twin or a coverer
  // What makes two targets of one kind the same purge (coverage.h's coverage_key). Usually a view
  // of the item's value; `owned_identity` holds it when it differs (tags, headers, host case).
  // Views into a Node stay valid because the node vector is sized once and never moved.
  std::string_view identity;
  std::string owned_identity;
};

bool older(const PlanTarget& a, const PlanTarget& b) {
  return std::tie(a.accepted_at, a.id) < std::tie(b.accepted_at, b.id);
}

// Which of several duplicates goes into a body: one that may be sent now before one in backoff;
// among sendable ones the oldest (its age is what linger measures); among backed-off ones the one
// free soonest (its not_before is when the group can move again).
bool preferred(const Node& a, const Node& b) {
  if (a.eligible != b.eligible) return a.eligible;
  const PlanTarget& x = *a.target;
  const PlanTarget& y = *b.target;
  if (a.eligible) return older(x, y);
  return std::tie(x.not_before, x.accepted_at, x.id) < std::tie(y.not_before, y.accepted_at, y.id);
}

// Groups in the order their batches are listed: broad purges first, because they cover most.
enum Group : std::size_t {
  kEverything,
  kHosts,
  kPrefixes,
  kTags,
  kFiles,
  kFilesWithHeaders,
  kGroupCount
};

Group group_of(const Item& item) {
  switch (item.kind) {
    case Kind::everything:
      return kEverything;
    case Kind::host:
      return kHosts;
    case Kind::prefix:
      return kPrefixes;
    case Kind::tag:
      return kTags;
    case Kind::file:
      return item.headers.empty() ? kFiles : kFilesWithHeaders;
  }
  return kFiles;
}

// Files are listed together whatever their headers: their order is by age alone.
int listing_rank(Group group) {
  return static_cast<int>(group == kFilesWithHeaders ? kFiles : group);
}

// Sets node.identity to coverage.h's coverage_key, without copying it when the item's value
// already is the key (the common case: files without headers, hosts and prefixes in lower case).
void set_identity(Node& node) {
  const Item& item = *node.target->item;
  if ((item.kind == Kind::host || item.kind == Kind::prefix) && node.reach) {
    const Reach& reach = *node.reach;
    const std::string_view value = item.value;
    if (value.size() == reach.host.size() + reach.path.size() && value.starts_with(reach.host)) {
      node.identity = value;
    } else {
      node.owned_identity = reach.host;
      node.owned_identity += reach.path;
      node.identity = node.owned_identity;
    }
    return;
  }
  if (item.kind == Kind::file && item.headers.empty()) {
    node.identity = item.value;  // Item::key() of a file without headers is its URL
    return;
  }
  node.owned_identity = item.key();
  node.identity = node.owned_identity;
}

bool reach_less(const Reach& a, const Reach& b) {
  return std::tie(a.host, a.path) < std::tie(b.host, b.path);
}

void earliest(std::optional<Clock::time_point>& wake, Clock::time_point t) {
  if (!wake || t < *wake) wake = t;
}

struct PendingBatch {
  Batch batch;
  int rank = 0;
  const PlanTarget* oldest = nullptr;
  std::vector<std::size_t> covered;  // node indexes
};

// Links every duplicate to its preferred twin and every covered target to the target that covers
// it; afterwards a node's parent chain is at most two long (duplicate -> twin -> coverer) and
// ends at a root, a node without parent.
void link_coverage(std::vector<Node>& nodes) {
  std::vector<std::size_t> order(nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return preferred(nodes[a], nodes[b]); });

  // Keys view the nodes' identities, which stay put: `nodes` is not resized from here on.
  std::array<std::unordered_map<std::string_view, std::size_t>, kKindCount> seen;
  std::array<std::vector<std::size_t>, kKindCount> distinct;  // first of each identity, by kind
  {
    std::array<std::size_t, kKindCount> per_kind{};
    for (const auto& node : nodes) ++per_kind[static_cast<std::size_t>(node.target->item->kind)];
    for (std::size_t k = 0; k < kKindCount; ++k) {
      seen[k].reserve(per_kind[k]);
      distinct[k].reserve(per_kind[k]);
    }
  }
  for (const std::size_t i : order) {
    const auto kind = static_cast<std::size_t>(nodes[i].target->item->kind);
    const auto [it, inserted] = seen[kind].try_emplace(nodes[i].identity, i);
    if (inserted) {
      distinct[kind].push_back(i);
    } else {
      nodes[i].parent = it->second;
    }
  }

  // Everything covers every other target; duplicates of it already ride with it.
  if (const auto& all = distinct[static_cast<std::size_t>(Kind::everything)]; !all.empty()) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i != all.front() && nodes[i].parent == kNone) nodes[i].parent = all.front();
    }
    return;
  }

  // Hosts: looked up by name. The views point into nodes' reaches, which no longer move.
  std::unordered_map<std::string_view, std::size_t> hosts;
  hosts.reserve(distinct[static_cast<std::size_t>(Kind::host)].size());
  for (const std::size_t i : distinct[static_cast<std::size_t>(Kind::host)]) {
    if (nodes[i].reach) hosts.emplace(nodes[i].reach->host, i);
  }
  auto host_coverer = [&](const Reach& reach) {
    const auto it = hosts.find(reach.host);
    return it == hosts.end() ? kNone : it->second;
  };

  // Prefixes: those under a pending host ride with it. Of the rest, sorted by (host, path), a
  // prefix is covered exactly when it starts with the nearest uncovered prefix before it on the
  // same host: anything sorted between a string and a longer string starting with it starts with
  // it too, so an earlier uncovered prefix that covered it would have covered that nearest one.
  std::vector<std::size_t> open;
  for (const std::size_t i : distinct[static_cast<std::size_t>(Kind::prefix)]) {
    if (!nodes[i].reach) continue;
    if (const auto host = host_coverer(*nodes[i].reach); host != kNone) {
      nodes[i].parent = host;
    } else {
      open.push_back(i);
    }
  }
  std::sort(open.begin(), open.end(), [&](std::size_t a, std::size_t b) {
    return reach_less(*nodes[a].reach, *nodes[b].reach);
  });
  std::vector<std::size_t> prefix_roots;  // sorted by (host, path); none covers another
  for (const std::size_t i : open) {
    if (!prefix_roots.empty()) {
      const Reach& last = *nodes[prefix_roots.back()].reach;
      const Reach& here = *nodes[i].reach;
      if (last.host == here.host && path_within(last.path, here.path)) {
        nodes[i].parent = prefix_roots.back();
        continue;
      }
    }
    prefix_roots.push_back(i);
  }

  // Files: a pending host first, else the one uncovered prefix that can start the URL's
  // host+path. Since uncovered prefixes never start one another, only the greatest one not
  // above the URL can (the same argument as above), so a binary search finds it.
  for (const std::size_t i : distinct[static_cast<std::size_t>(Kind::file)]) {
    if (!nodes[i].reach) continue;
    const Reach& reach = *nodes[i].reach;
    if (const auto host = host_coverer(reach); host != kNone) {
      nodes[i].parent = host;
      continue;
    }
    auto it = std::upper_bound(
        prefix_roots.begin(), prefix_roots.end(), reach,
        [&](const Reach& key, std::size_t root) { return reach_less(key, *nodes[root].reach); });
    if (it == prefix_roots.begin()) continue;
    const Reach& candidate = *nodes[*std::prev(it)].reach;
    if (candidate.host == reach.host && path_within(candidate.path, reach.path)) {
      nodes[i].parent = *std::prev(it);
    }
  }
}

std::size_t root_of(const std::vector<Node>& nodes, std::size_t i) {
  while (nodes[i].parent != kNone) i = nodes[i].parent;
  return i;
}

// What an item adds to a request body: its JSON string (quoted, comma) and, for files with
// headers, the {"url":..,"headers":{..}} object around it. Escapes are rare; a small slack covers
// them.
constexpr std::size_t kBodyOverhead = 64;
std::size_t body_bytes(const Item& item) {
  std::size_t bytes = item.value.size() + 4;
  if (!item.headers.empty()) {
    bytes += 24;
    for (const auto& [name, value] : item.headers) bytes += name.size() + value.size() + 6;
  }
  return bytes + bytes / 16;
}

}  // namespace

ZonePlan plan_zone(std::span<const PlanTarget> pending, const Caps& caps, Clock::duration linger,
                   Clock::time_point now) {
  std::vector<Node> nodes(pending.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const PlanTarget& target = pending[i];
    if (target.item == nullptr) {
      throw std::invalid_argument("plan_zone: target " + std::to_string(target.id) +
                                  " has no item");
    }
    nodes[i].target = &target;
    nodes[i].reach = reach_of(*target.item);
    nodes[i].eligible = target.not_before <= now;
    set_identity(nodes[i]);
  }
  link_coverage(nodes);

  ZonePlan plan;
  std::array<std::vector<std::size_t>, kGroupCount> groups;  // eligible roots
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].parent != kNone) continue;
    if (nodes[i].eligible) {
      groups[group_of(*nodes[i].target->item)].push_back(i);
    } else {
      earliest(plan.wake_at, nodes[i].target->not_before);
    }
  }

  std::vector<PendingBatch> batches;
  std::vector<std::size_t> batch_of(nodes.size(), kNone);
  for (std::size_t g = 0; g < kGroupCount; ++g) {
    auto& members = groups[g];
    if (members.empty()) continue;
    std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      return older(*nodes[a].target, *nodes[b].target);
    });
    const int cap_value = g == kEverything                          ? 1
                          : (g == kFiles || g == kFilesWithHeaders) ? caps.max_urls
                                                                    : caps.max_ops;
    const auto cap = static_cast<std::size_t>(std::max(cap_value, 1));
    for (std::size_t start = 0, end = 0; start < members.size(); start = end) {
      // Greedy: up to `cap` items and `max_body_bytes` of body; reaching either makes it full.
      std::size_t bytes = kBodyOverhead;
      bool full = false;
      for (end = start; end < members.size(); ++end) {
        const std::size_t item = body_bytes(*nodes[members[end]].target->item);
        if (end - start == cap || (end > start && bytes + item > caps.max_body_bytes)) {
          full = true;
          break;
        }
        bytes += item;
      }
      full = full || end - start == cap;
      if (!full && linger > Clock::duration::zero()) {
        // The remainder: it waits for companions until its oldest member has waited `linger`.
        const auto ready_at = nodes[members[start]].target->accepted_at + linger;
        if (ready_at > now) {
          earliest(plan.wake_at, ready_at);
          break;
        }
      }
      PendingBatch pb;
      pb.batch.kind = nodes[members[start]].target->item->kind;
      pb.batch.with_headers = g == kFilesWithHeaders;
      pb.rank = listing_rank(static_cast<Group>(g));
      pb.oldest = nodes[members[start]].target;
      pb.batch.members.reserve(end - start);
      for (std::size_t k = start; k < end; ++k) {
        pb.batch.members.push_back(nodes[members[k]].target->id);
        batch_of[members[k]] = batches.size();
      }
      batches.push_back(std::move(pb));
    }
  }

  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].parent == kNone) continue;
    if (const auto b = batch_of[root_of(nodes, i)]; b != kNone) batches[b].covered.push_back(i);
  }

  std::stable_sort(batches.begin(), batches.end(),
                   [](const PendingBatch& a, const PendingBatch& b) {
                     if (a.rank != b.rank) return a.rank < b.rank;
                     return older(*a.oldest, *b.oldest);
                   });
  plan.ready.reserve(batches.size());
  for (auto& pb : batches) {
    std::sort(pb.covered.begin(), pb.covered.end(), [&](std::size_t a, std::size_t b) {
      return older(*nodes[a].target, *nodes[b].target);
    });
    pb.batch.covered.reserve(pb.covered.size());
    for (const std::size_t i : pb.covered) pb.batch.covered.push_back(nodes[i].target->id);
    plan.ready.push_back(std::move(pb.batch));
  }
  return plan;
}

std::vector<std::pair<std::size_t, Batch>> interleave_fairly(std::vector<ZonePlan> plans,
                                                             std::size_t start) {
  std::vector<std::pair<std::size_t, Batch>> out;
  const std::size_t zones = plans.size();
  if (zones == 0) return out;
  std::size_t rounds = 0;
  std::size_t total = 0;
  for (const auto& plan : plans) {
    rounds = std::max(rounds, plan.ready.size());
    total += plan.ready.size();
  }
  out.reserve(total);
  for (std::size_t round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < zones; ++k) {
      const std::size_t zone = (start % zones + k) % zones;
      if (round < plans[zone].ready.size()) {
        out.emplace_back(zone, std::move(plans[zone].ready[round]));
      }
    }
  }
  return out;
}

}  // namespace purgeq
