// The queue's statements: what each one does, its parameters in order and the columns it returns.
// Both backends define every one of them in their queries.sql with exactly these parameters (a
// backend may leave out parameters its text does not need); queue_store.cpp is their only caller.
// `[]` marks an array parameter (sql.h).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace purgeq {

#define PURGEQ_STATEMENTS(X)                                                                      \
  /* zones */                                                                                     \
  X(zone_find)   /* (zone_id) -> id */                                                            \
  X(zone_insert) /* (zone_id) -> id */                                                            \
  X(zone_name)   /* (id) -> zone_id */                                                            \
  /* zones by name: what Cloudflare said of each (docs/configuration.md), and old keys */         \
  X(zone_records_read)  /* () -> name, zone_id, account_id, plan, resolved_ms */                  \
  X(zone_record_write)  /* (name, zone_id, account_id, plan, resolved_ms): insert or replace */   \
  X(zone_rename)        /* (from_key, to_key): the zone row, unless to_key has one */             \
  X(zone_move_pending)  /* (from, to, limit) -> id: pending targets of zone from join zone to */  \
  X(escalations_rezone) /* (from, to) */                                                          \
  X(everything_merge)   /* (from, to): the later of both zones' last purge-everything */          \
  /* intake */                                                                                    \
  X(intent_insert) /* (id, created_ms, uid, gid, pid, source, items, lane) -> ref */              \
  /* (zone, kind, keys[]) -> key, id, lane: the oldest pending target of each key */              \
  X(twins_find)                                                                                   \
  /* (ids[]) -> id: the twins this transaction holds until it commits (another daemon's take      \
     must not settle a twin before the intent linking it commits) */                              \
  X(twins_hold)                                                                                   \
  /* (ids[], lane, now_ms): each twin rejoined: acknowledged again now, raised to `lane` */       \
  X(twins_rejoin)                                                                                 \
  /* (zones[], groups[], kinds[], keys[], values[], headers[], now_ms, lane, ids[]): drawn ids */ \
  X(targets_insert)                                                                               \
  X(links_insert) /* (intent_ref, targets[]) */                                                   \
  X(counts_add)   /* (zone, group, lane, state, n, host): rows inserted, counted by the writer */ \
  /* take */                                                                                      \
  /* (zone, group, lane, after_id, limit) -> id, kind, key, value, headers, created_ms */         \
  X(head_read)                                                                                    \
  X(max_target_id) /* () -> id */                                                                 \
  /* (zone, group, lane, last_id, flight, now_ms, host, ids[]): the head read, in flight */       \
  X(head_take)                                                                                    \
  /* (zone, kind, flight, now_ms, host, keys[]): pending twins of the members join the flight */  \
  X(twins_take)                                                                                   \
  X(cover_zone)   /* (flight, zone, watermark, limit, coverer, host) */                           \
  X(cover_range)  /* (flight, zone, kind, low, high, watermark, limit, coverer, host) */          \
  X(cover_exact)  /* (flight, zone, kind, key, watermark, limit, coverer, host) */                \
  X(flight_move)  /* (flight, ids[], host) */                                                     \
  X(flight_split) /* (from, to, members[], covered, host) */                                      \
  /* settle */                                                                                    \
  X(attempt_note)     /* (flight, ids[], increment, message) */                                   \
  X(settle_done)      /* (flight, now_ms, limit) -> kind, created_ms */                           \
  X(settle_failed)    /* (flight, now_ms, limit, code, message) -> kind, created_ms */            \
  X(settle_pending)   /* (flight, now_ms, limit) -> kind, created_ms */                           \
  X(give_up)          /* (before_ms, now_ms, reason_prefix, limit) -> kind, created_ms */         \
  X(retry_candidates) /* (limit) -> id: failed targets some intent asked for           */         \
  X(ids_draw)         /* (n) -> id: n fresh target ids above every id taken */                    \
  /* (old_ids[], new_ids[], now_ms): failed -> pending at the tail, with a fresh clock */         \
  X(targets_requeue)                                                                              \
  X(links_retarget)       /* (old_ids[], new_ids[]) */                                            \
  X(escalations_retarget) /* (old_ids[], new_ids[]) */                                            \
  /* pruning */                                                                                   \
  X(intents_prunable)     /* (before_ms, limit) -> ref */                                         \
  X(escalations_prunable) /* (before_ms, limit) -> id, target */                                  \
  X(escalation_delete)    /* (id) */                                                              \
  X(intent_unlink)        /* (ref) -> target */                                                   \
  X(targets_drop)         /* (ids[]): those finished that no intent links */                      \
  X(intent_delete)        /* (ref) */                                                             \
  /* pacing history */                                                                            \
  X(send_insert)  /* (account, kind, at_ms) */                                                    \
  X(sends_trim)   /* (keep_after_ms, account) */                                                  \
  X(sends_recent) /* (after_ms) -> account, kind, at_ms */                                        \
  /* reads */                                                                                     \
  X(intent_find)     /* (id) -> ref, created_ms, uid, gid, pid, lane */                           \
  X(intent_items)    /* (ref) -> state, kind, value, code, message, zone */                       \
  X(intent_coverers) /* (ref, limit) -> kind, value, escalation, items */                         \
  X(failed_list)     /* (limit) -> id, zone_id, kind, value, code, message, updated_ms */         \
  X(counts_read)     /* () -> zone_id, group, state, n, lane */                                   \
  X(queue_oldest)    /* (zone, groups[], lanes[]) -> group, created_ms (NULL: empty) */           \
  X(everything_last) /* (zone) -> at_ms */                                                        \
  X(health_probe)    /* (now_ms) */                                                               \
  /* escalation */                                                                                \
  X(escalate_head)         /* (zone, group, lane, limit) -> value */                              \
  X(escalation_last_state) /* (zone, prefix) -> state of its target (NULL: pruned) */             \
  X(count_pending_in)      /* (zone, kind, low, high, cap) -> n */                                \
  X(count_known_in)        /* (zone, kind, low, high, cap) -> n */                                \
  X(escalation_insert)     /* (zone, prefix, target, urls, known, created_ms) -> id */            \
  /* completion hooks */                                                                          \
  X(intent_ref)       /* (id) -> ref */                                                           \
  X(intent_tally)     /* (ref) -> total, unfinished, failed */                                    \
  X(hook_wait_insert) /* (ref, zones, total, remaining, failed) */                                \
  X(hook_runs_insert) /* (ref, hooks[], state, now_ms) */                                         \
  X(hook_runs_claim)  /* (hook, now_ms, limit, host) -> ref, attempts, next_ms, last_error */     \
  X(hook_waits_about) /* (refs[]) -> ref, intent_id, zones, total, failed, lane */                \
  X(hook_next_due)    /* (hook) -> next_ms */                                                     \
  X(hook_run_finish)  /* (ref, hook, state, next_ms, error, now_ms, host) */                      \
  X(hook_items)       /* (ref, after, limit) -> id, zone_id, kind, value, state, headers */       \
  X(intent_hook_runs) /* (id) -> ref, hook, state, attempts, next_ms, last_error, updated_ms,     \
                         zones, total, failed */                                                  \
  X(hook_counts)      /* () -> hook, state, n */

enum class Stmt : std::size_t {
#define PURGEQ_STATEMENT_ENUM(name) name,
  PURGEQ_STATEMENTS(PURGEQ_STATEMENT_ENUM)
#undef PURGEQ_STATEMENT_ENUM
};

inline constexpr std::array kStatementNames{
#define PURGEQ_STATEMENT_NAME(name) std::string_view(#name),
    PURGEQ_STATEMENTS(PURGEQ_STATEMENT_NAME)
#undef PURGEQ_STATEMENT_NAME
};
inline constexpr std::size_t kStatementCount = kStatementNames.size();

// The SQL files compiled into the binary (store/sql/...), by their path under store/sql/: ""
// for a name that is not there.
std::string_view embedded_sql(std::string_view path);

}  // namespace purgeq
