-- The queue's statements on SQLite (statements.h says what each does and takes). Parameters are
-- numbered as statements.h lists them; a text may leave some out. An array parameter named plainly
-- (?3) runs the statement once per element; one read with json_each(?3) is bound as a JSON array.
--
-- The hot statements name their index (INDEXED BY): without statistics SQLite's planner picked
-- targets_age for some of them and scanned every pending row, turning O(cap · log n) into O(n).
-- targets.known is 1 while a row is not pending and NULL while it is (escalations.sql): every
-- statement that moves a row out of or back to pending sets it.

-- name: zone_find
SELECT id FROM zones WHERE zone_id = ?1

-- name: zone_insert
INSERT INTO zones(zone_id) VALUES (?1) RETURNING id

-- name: zone_name
SELECT zone_id FROM zones WHERE id = ?1

-- name: zone_records_read
SELECT name, zone_id, account_id, plan, resolved_ms FROM zone_records ORDER BY name

-- name: zone_record_write
INSERT INTO zone_records(name, zone_id, account_id, plan, resolved_ms) VALUES (?1, ?2, ?3, ?4, ?5)
  ON CONFLICT(name) DO UPDATE SET zone_id = excluded.zone_id, account_id = excluded.account_id,
  plan = excluded.plan, resolved_ms = excluded.resolved_ms

-- name: zone_rename
UPDATE zones SET zone_id = ?2 WHERE zone_id = ?1
  AND NOT EXISTS (SELECT 1 FROM zones WHERE zone_id = ?2)

-- The counts follow the rows (zone_records.sql's trigger).
-- name: zone_move_pending
UPDATE targets SET zone = ?2 WHERE id IN (SELECT id FROM targets INDEXED BY targets_queue
  WHERE zone = ?1 AND state = 0 LIMIT ?3) RETURNING id

-- name: escalations_rezone
UPDATE escalations SET zone = ?2 WHERE zone = ?1

-- name: everything_merge
INSERT INTO everything_sent(zone, at_ms) SELECT ?2, at_ms FROM everything_sent WHERE zone = ?1
  ON CONFLICT(zone) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)

-- name: intent_insert
INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count, lane)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING ref

-- name: twins_find
SELECT ?3, id, lane FROM targets INDEXED BY targets_twin
  WHERE zone = ?1 AND kind = ?2 AND key = ?3 AND state = 0 LIMIT 1

-- One writer: nothing else can take a twin before this transaction commits, so each is held.
-- name: twins_hold
SELECT ?1

-- The count trigger follows a lane that changes.
-- name: twins_rejoin
UPDATE targets SET acked_ms = ?3, lane = min(lane, ?2) WHERE id = ?1

-- name: targets_insert
INSERT INTO targets(id, zone, grp, kind, key, value, headers, state, created_ms, updated_ms, lane)
  VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7, ?8)

-- name: links_insert
INSERT OR IGNORE INTO links(intent, target) VALUES (?1, ?2)

-- name: counts_add
INSERT INTO queue_counts(zone, grp, lane, state, n) VALUES (?1, ?2, ?3, ?4, ?5)
  ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + ?5

-- name: head_read
SELECT id, kind, key, coalesce(value, key), headers, created_ms FROM targets
  INDEXED BY targets_queue WHERE zone = ?1 AND grp = ?2 AND lane = ?3 AND state = 0
  AND id > ?4 ORDER BY id LIMIT ?5

-- name: max_target_id
SELECT coalesce(max(id), 0) FROM targets

-- One writer: the head read is exactly the queue's pending rows up to its last id.
-- name: head_take
UPDATE targets INDEXED BY targets_queue SET state = 1, flight = ?5, updated_ms = ?6,
  coverer = NULL, known = 1
  WHERE zone = ?1 AND grp = ?2 AND lane = ?3 AND state = 0 AND id <= ?4

-- Without statistics SQLite 3.40 plans this on targets_age (state = 0) and scans every pending
-- row, which made each take cost O(backlog).
-- name: twins_take
UPDATE targets INDEXED BY targets_twin SET state = 1, flight = ?3, updated_ms = ?4,
  coverer = NULL, known = 1
  WHERE zone = ?1 AND kind = ?2 AND state = 0
  AND key IN (SELECT key FROM targets WHERE flight = ?3 AND state = 1)

-- name: cover_zone
UPDATE targets SET state = 1, flight = ?1, coverer = ?5, known = 1 WHERE id IN
  (SELECT id FROM targets INDEXED BY targets_queue WHERE zone = ?2 AND state = 0 AND id <= ?3
   LIMIT ?4)

-- name: cover_range
UPDATE targets SET state = 1, flight = ?1, coverer = ?8, known = 1 WHERE id IN
  (SELECT id FROM targets INDEXED BY targets_twin WHERE zone = ?2 AND kind = ?3 AND key >= ?4
   AND key < ?5 AND state = 0 AND id <= ?6 LIMIT ?7)

-- name: cover_exact
UPDATE targets SET state = 1, flight = ?1, coverer = ?7, known = 1 WHERE id IN
  (SELECT id FROM targets INDEXED BY targets_twin WHERE zone = ?2 AND kind = ?3 AND key = ?4
   AND state = 0 AND id <= ?5 LIMIT ?6)

-- name: flight_move
UPDATE targets SET flight = ?1 WHERE id = ?2 AND state = 1

-- One pass over the parent flight's rows (targets_flight): the members, their twins, and what
-- they cover.
-- name: flight_split
UPDATE targets INDEXED BY targets_flight SET flight = ?2 WHERE flight = ?1 AND state = 1 AND (
  id IN (SELECT value FROM json_each(?3))
  OR (kind, key) IN (SELECT kind, key FROM targets WHERE id IN (SELECT value FROM json_each(?3)))
  OR (?4 AND coverer IN (SELECT value FROM json_each(?3))))

-- name: attempt_note
UPDATE targets SET attempts = attempts + ?3, error_message = ?4
  WHERE id = ?2 AND flight = ?1 AND state = 1

-- name: settle_done
UPDATE targets SET state = 2, flight = NULL, updated_ms = ?2, error_code = NULL,
  error_message = NULL WHERE id IN (SELECT id FROM targets INDEXED BY targets_flight
  WHERE flight = ?1 AND state = 1 LIMIT ?3) RETURNING kind, created_ms

-- name: settle_failed
UPDATE targets SET state = 3, flight = NULL, updated_ms = ?2, error_code = ?4,
  error_message = ?5 WHERE id IN (SELECT id FROM targets INDEXED BY targets_flight
  WHERE flight = ?1 AND state = 1 LIMIT ?3) RETURNING kind, created_ms

-- name: settle_pending
UPDATE targets SET state = 0, flight = NULL, known = NULL, updated_ms = ?2 WHERE id IN
  (SELECT id FROM targets INDEXED BY targets_flight WHERE flight = ?1 AND state = 1 LIMIT ?3)
  RETURNING kind, created_ms

-- name: give_up
UPDATE targets SET state = 3, known = 1, updated_ms = ?2, error_code = 0,
  error_message = ?3 || coalesce(nullif(error_message, ''), 'none; never sent') || ')'
  WHERE id IN (SELECT id FROM targets INDEXED BY targets_age
                WHERE state = 0 AND coalesce(acked_ms, created_ms) < ?1 LIMIT ?4)
  RETURNING kind, created_ms

-- Only targets some intent asked for: a refused escalation prefix belongs to no intent (its URLs
-- went out as URLs), and sending it again would repeat what Cloudflare refused.
-- name: retry_candidates
SELECT t.id FROM targets t WHERE t.state = 3 AND EXISTS
  (SELECT 1 FROM links l WHERE l.target = t.id) LIMIT ?1

-- The next rowids SQLite would give (it takes the largest plus one).
-- name: ids_draw
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
SELECT (SELECT coalesce(max(id), 0) FROM targets) + i FROM n

-- name: targets_requeue
UPDATE targets SET id = ?2, state = 0, known = NULL, attempts = 0, created_ms = ?3,
  updated_ms = ?3, acked_ms = NULL, error_code = NULL, error_message = NULL
  WHERE id = ?1 AND state = 3

-- name: links_retarget
UPDATE links SET target = ?2 WHERE target = ?1

-- name: escalations_retarget
UPDATE escalations SET target = ?2 WHERE target = ?1

-- The oldest finished intents: those still waiting for a target are skipped by the NOT EXISTS,
-- in index order of age.
-- name: intents_prunable
SELECT i.ref FROM intents i WHERE i.created_ms < ?1 AND NOT EXISTS (SELECT 1 FROM links l
  JOIN targets t ON t.id = l.target WHERE l.intent = i.ref AND t.state IN (0, 1))
  ORDER BY i.created_ms LIMIT ?2

-- name: escalations_prunable
SELECT e.id, e.target FROM escalations e INDEXED BY escalations_created
  LEFT JOIN targets t ON t.id = e.target WHERE e.created_ms < ?1
  AND (t.id IS NULL OR t.state IN (2, 3)) ORDER BY e.created_ms LIMIT ?2

-- name: escalation_delete
DELETE FROM escalations WHERE id = ?1

-- name: intent_unlink
DELETE FROM links WHERE intent = ?1 RETURNING target

-- name: targets_drop
DELETE FROM targets WHERE id = ?1 AND state IN (2, 3)
  AND NOT EXISTS (SELECT 1 FROM links WHERE target = ?1)

-- name: intent_delete
DELETE FROM intents WHERE ref = ?1

-- name: send_insert
INSERT INTO sends(account, kind, at_ms) VALUES (?1, ?2, ?3)

-- name: sends_trim
DELETE FROM sends WHERE at_ms <= ?1 AND account = ?2

-- name: sends_recent
SELECT account, kind, at_ms FROM sends WHERE at_ms > ?1 ORDER BY at_ms, rowid

-- name: intent_find
SELECT ref, created_ms, peer_uid, peer_gid, peer_pid, lane FROM intents WHERE id = ?1

-- name: intent_items
SELECT t.state, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message, t.zone
  FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = ?1

-- The intent's covered done rows grouped by what covered them, then one primary-key lookup per
-- coverer; a coverer pruned meanwhile is left out.
-- name: intent_coverers
SELECT c.kind, coalesce(c.value, c.key),
  (SELECT e.id FROM escalations e WHERE e.target = c.id ORDER BY e.id DESC LIMIT 1), g.n
  FROM (SELECT t.coverer AS coverer, count(*) AS n FROM links l JOIN targets t ON t.id = l.target
        WHERE l.intent = ?1 AND t.state = 2 AND t.coverer IS NOT NULL
        GROUP BY t.coverer ORDER BY n DESC, t.coverer LIMIT ?2) AS g
  JOIN targets c ON c.id = g.coverer ORDER BY g.n DESC, g.coverer

-- name: failed_list
SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message,
  t.updated_ms FROM targets t JOIN zones z ON z.id = t.zone WHERE t.state = 3
  ORDER BY t.updated_ms DESC, t.id DESC LIMIT ?1

-- name: counts_read
SELECT z.zone_id, c.grp, c.state, c.n, c.lane FROM queue_counts c
  JOIN zones z ON z.id = c.zone WHERE c.n != 0

-- One index lookup per queue (zone, group, lane): each queue's head is its oldest.
-- name: queue_oldest
SELECT ?2, created_ms FROM targets INDEXED BY targets_queue
  WHERE zone = ?1 AND grp = ?2 AND lane = ?3 AND state = 0 ORDER BY id LIMIT 1

-- name: everything_last
SELECT at_ms FROM everything_sent WHERE zone = ?1

-- name: health_probe
INSERT OR REPLACE INTO health(id, probed_ms) VALUES (1, ?1)

-- The head of the acting queue (zone, group, lane) only: the queue index orders by id within a
-- lane, and the prefix goes in the lane of the URLs it replaces.
-- name: escalate_head
SELECT coalesce(value, key) FROM targets INDEXED BY targets_queue
  WHERE zone = ?1 AND grp = ?2 AND lane = ?3 AND state = 0 ORDER BY id LIMIT ?4

-- name: escalation_last_state
SELECT t.state FROM escalations e INDEXED BY escalations_prefix
  LEFT JOIN targets t ON t.id = e.target WHERE e.zone = ?1 AND e.prefix = ?2
  ORDER BY e.id DESC LIMIT 1

-- Each reads at most `cap` entries of one key range: the pending rows by key (targets_twin) and
-- the others by key (targets_known_rows, which exists only while some zone asks for a share).
-- name: count_pending_in
SELECT count(*) FROM (SELECT 1 FROM targets INDEXED BY targets_twin
  WHERE zone = ?1 AND kind = ?2 AND key >= ?3 AND key < ?4 AND state = 0 LIMIT ?5)

-- name: count_known_in
SELECT count(*) FROM (SELECT 1 FROM targets INDEXED BY targets_known_rows
  WHERE zone = ?1 AND kind = ?2 AND key >= ?3 AND key < ?4 AND known IS NOT NULL LIMIT ?5)

-- name: escalation_insert
INSERT INTO escalations(zone, prefix, target, urls, known, created_ms)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id

-- name: intent_ref
SELECT ref FROM intents WHERE id = ?1

-- name: intent_tally
SELECT count(*), coalesce(sum(t.state IN (0, 1)), 0), coalesce(sum(t.state = 3), 0)
  FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = ?1

-- name: hook_wait_insert
INSERT INTO hook_waits(intent, zones, total, remaining, failed) VALUES (?1, ?2, ?3, ?4, ?5)
  ON CONFLICT(intent) DO NOTHING

-- name: hook_runs_insert
INSERT INTO hook_runs(intent, hook, state, updated_ms) VALUES (?1, ?2, ?3, ?4)
  ON CONFLICT(intent, hook) DO NOTHING

-- name: hook_runs_claim
UPDATE hook_runs SET state = 2, attempts = attempts + 1, updated_ms = ?2
  WHERE (intent, hook) IN (SELECT intent, hook FROM hook_runs INDEXED BY hook_runs_due
  WHERE state = 1 AND hook = ?1 AND next_ms <= ?2 ORDER BY next_ms LIMIT ?3)
  RETURNING intent, attempts, next_ms, coalesce(last_error, '')

-- name: hook_waits_about
SELECT w.intent, i.id, w.zones, w.total, w.failed, i.lane FROM hook_waits w
  JOIN intents i ON i.ref = w.intent WHERE w.intent = ?1

-- name: hook_next_due
SELECT min(next_ms) FROM hook_runs INDEXED BY hook_runs_due WHERE state = 1 AND hook = ?1

-- Only a run still marked running: if the intent was reopened and finished again meanwhile, the
-- run is due afresh and this outcome belongs to the old round.
-- name: hook_run_finish
UPDATE hook_runs SET state = ?3, next_ms = ?4, last_error = ?5, updated_ms = ?6
  WHERE intent = ?1 AND hook = ?2 AND state = 2

-- name: hook_items
SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.state, coalesce(t.headers, '')
  FROM links l JOIN targets t ON t.id = l.target JOIN zones z ON z.id = t.zone
  WHERE l.intent = ?1 AND l.target > ?2 ORDER BY l.target LIMIT ?3

-- name: intent_hook_runs
SELECT w.intent, r.hook, r.state, r.attempts, r.next_ms, coalesce(r.last_error, ''),
  r.updated_ms, w.zones, w.total, w.failed FROM intents i JOIN hook_waits w ON w.intent = i.ref
  JOIN hook_runs r ON r.intent = w.intent WHERE i.id = ?1 ORDER BY r.hook LIMIT 256

-- One row per hook name and state: as many as hooks ever configured (32 at a time), times five.
-- name: hook_counts
SELECT hook, state, n FROM hook_counts WHERE n != 0 ORDER BY hook, state LIMIT 1000
