-- The queue's statements on PostgreSQL (statements.h says what each does and takes), with the
-- same parameters in the same order as on SQLite; arrays arrive as one array value each.
--
-- Several daemons may share the database (docs/scale-out.md):
-- - rows a daemon takes are leased to it (lease_host, its host id), and every statement that
--   moves in-flight rows checks the lease;
-- - an UPDATE ... WHERE id IN (subquery) repeats its state test in the outer WHERE: that is what
--   PostgreSQL checks again on a row another daemon's transaction changed meanwhile (the
--   subquery's snapshot is not), so a row another daemon took is not moved as if it were not;
-- - lookups pass their keys as a constant array (or a LATERAL probe per key), so that the planner
--   can only use the twin index: joins on the keys were planned, on a young table without
--   statistics, as a pass over the zone's pending rows.

-- name: zone_find
SELECT id FROM zones WHERE zone_id = $1

-- Another host may add the same zone at the same time.
-- name: zone_insert
INSERT INTO zones(zone_id) VALUES ($1) ON CONFLICT (zone_id) DO UPDATE
  SET zone_id = excluded.zone_id RETURNING id

-- name: zone_name
SELECT zone_id FROM zones WHERE id = $1

-- name: zone_records_read
SELECT name, zone_id, account_id, plan, resolved_ms FROM zone_records ORDER BY name

-- Daemons sharing the database look zones up each on their own: the latest answer is kept.
-- name: zone_record_write
INSERT INTO zone_records(name, zone_id, account_id, plan, resolved_ms) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (name) DO UPDATE SET zone_id = excluded.zone_id,
  account_id = excluded.account_id, plan = excluded.plan, resolved_ms = excluded.resolved_ms
  WHERE zone_records.resolved_ms <= excluded.resolved_ms

-- name: zone_rename
UPDATE zones SET zone_id = $2 WHERE zone_id = $1
  AND NOT EXISTS (SELECT 1 FROM zones WHERE zone_id = $2)

-- The statement trigger counts the rows under their new zone. Rows another transaction holds
-- (a take) are left for the next step. The step's rows are chosen once, in a CTE: a LIMIT in a
-- subquery of the UPDATE's WHERE may be evaluated again and move more than the limit.
-- name: zone_move_pending
WITH step AS (SELECT id FROM targets WHERE zone = $1 AND state = 0 ORDER BY id LIMIT $3
  FOR UPDATE SKIP LOCKED)
UPDATE targets SET zone = $2 FROM step WHERE targets.id = step.id RETURNING targets.id

-- name: escalations_rezone
UPDATE escalations SET zone = $2 WHERE zone = $1

-- name: everything_merge
INSERT INTO everything_sent(zone, at_ms) SELECT $2, at_ms FROM everything_sent WHERE zone = $1
  ON CONFLICT (zone) DO UPDATE SET at_ms = greatest(everything_sent.at_ms, excluded.at_ms)

-- name: intent_insert
INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count, lane)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ref

-- One index probe per key (a LATERAL with LIMIT is not flattened): as `key = ANY(...)`, on a
-- table that grew since it was last analysed, the planner used only (zone, kind) of the twin
-- index and filtered the keys, a pass over the zone's pending rows (24-31 ms per intent at 100k
-- pending, bench/run_backends.py).
-- name: twins_find
SELECT k.key, t.id, t.lane FROM unnest($3::text[]) AS k(key) CROSS JOIN LATERAL
  (SELECT id, lane FROM targets WHERE zone = $1 AND kind = $2 AND state = 0 AND key = k.key
   ORDER BY id LIMIT 1) AS t

-- Locked until the intent commits: another daemon's take must not take and settle a twin before
-- this intent's link to it exists (that settle would not count this intent's item down, and its
-- hooks would wait forever); its take skips locked rows and its twin riders wait. Intake itself
-- never waits for a row (SKIP LOCKED): two intakes holding one twin and each raising it, or an
-- intake and another daemon's cover, deadlocked. A twin skipped, or taken since it was read, is
-- no twin: the item gets a target of its own (taken along with the twin as its rider).
-- For an update (twins_rejoin writes each).
-- name: twins_hold
SELECT id FROM targets WHERE id = ANY($1::bigint[]) AND state = 0 ORDER BY id
  FOR NO KEY UPDATE SKIP LOCKED

-- name: twins_rejoin
UPDATE targets SET acked_ms = $3, lane = least(lane, $2) WHERE id = ANY($1::bigint[])

-- New targets in item order (the queue's order); RETURNING gives no order, but the ids were drawn
-- in `ord` order (queue_store.cpp sorts them).
-- name: targets_insert
INSERT INTO targets(id, zone, grp, kind, key, value, headers, state, created_ms, updated_ms, lane)
  SELECT id, zone, grp, kind, key, value, headers, 0, $7, $7, $8 FROM
  unnest($9::bigint[], $1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[])
  AS i(id, zone, grp, kind, key, value, headers)

-- name: links_insert
INSERT INTO links(intent, target) SELECT $1, t FROM unnest($2::bigint[]) AS t
  ON CONFLICT DO NOTHING

-- Each daemon adds to its own shard (host) of the counts; readers sum the shards.
-- name: counts_add
INSERT INTO queue_counts(zone, grp, lane, state, host, n) VALUES ($1, $2, $3, $4, $6, $5)
  ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n

-- Rows another transaction holds (an intake linking a twin, another daemon's take) are skipped.
-- name: head_read
SELECT id, kind, key, coalesce(value, key), coalesce(headers, ''), created_ms
  FROM targets WHERE zone = $1 AND grp = $2 AND lane = $3 AND state = 0 AND id > $4
  ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED

-- name: max_target_id
SELECT coalesce(max(id), 0) FROM targets

-- The rows read (and locked) by head_read, by id: a row another transaction held was skipped and
-- is not in the head, so it must not ride along unseen.
-- name: head_take
UPDATE targets SET state = 1, flight = $5, updated_ms = $6, coverer = NULL, lease_host = $7
  WHERE id = ANY($8::bigint[]) AND state = 0
  AND zone = $1 AND grp = $2 AND lane = $3 AND id <= $4

-- name: twins_take
UPDATE targets SET state = 1, flight = $3, updated_ms = $4, coverer = NULL, lease_host = $5
  WHERE zone = $1 AND kind = $2 AND state = 0 AND key = ANY($6::text[])

-- name: cover_zone
UPDATE targets SET state = 1, flight = $1, coverer = $5, lease_host = $6 WHERE id IN
  (SELECT id FROM targets WHERE zone = $2 AND state = 0 AND id <= $3 LIMIT $4) AND state = 0

-- name: cover_range
UPDATE targets SET state = 1, flight = $1, coverer = $8, lease_host = $9 WHERE id IN
  (SELECT id FROM targets WHERE zone = $2 AND kind = $3 AND key >= $4 AND key < $5
   AND state = 0 AND id <= $6 LIMIT $7) AND state = 0

-- name: cover_exact
UPDATE targets SET state = 1, flight = $1, coverer = $7, lease_host = $8 WHERE id IN
  (SELECT id FROM targets WHERE zone = $2 AND kind = $3 AND key = $4 AND state = 0
   AND id <= $5 LIMIT $6) AND state = 0

-- Only rows still leased to this daemon: after a lost connection another daemon may have
-- reclaimed and taken them again, and its flight must keep them.
-- name: flight_move
UPDATE targets SET flight = $1 WHERE id = ANY($2::bigint[]) AND state = 1 AND lease_host = $3

-- name: flight_split
UPDATE targets SET flight = $2 WHERE flight = $1 AND state = 1 AND lease_host = $5 AND (
  id = ANY($3::bigint[])
  OR (kind, key) IN (SELECT kind, key FROM targets WHERE id = ANY($3::bigint[]))
  OR ($4 = 1 AND coverer = ANY($3::bigint[])))

-- name: attempt_note
UPDATE targets SET attempts = attempts + $3, error_message = $4
  WHERE id = ANY($2::bigint[]) AND flight = $1 AND state = 1

-- name: settle_done
UPDATE targets SET state = 2, flight = NULL, lease_host = NULL, updated_ms = $2,
  error_code = NULL, error_message = NULL WHERE id IN (SELECT id FROM targets WHERE
  flight = $1 AND state = 1 LIMIT $3) AND flight = $1 AND state = 1 RETURNING kind, created_ms

-- name: settle_failed
UPDATE targets SET state = 3, flight = NULL, lease_host = NULL, updated_ms = $2,
  error_code = $4, error_message = $5 WHERE id IN (SELECT id FROM targets WHERE
  flight = $1 AND state = 1 LIMIT $3) AND flight = $1 AND state = 1 RETURNING kind, created_ms

-- name: settle_pending
UPDATE targets SET state = 0, flight = NULL, lease_host = NULL, updated_ms = $2 WHERE id IN
  (SELECT id FROM targets WHERE flight = $1 AND state = 1 LIMIT $3)
  AND flight = $1 AND state = 1 RETURNING kind, created_ms

-- name: give_up
UPDATE targets SET state = 3, updated_ms = $2, error_code = 0,
  error_message = $3 || coalesce(nullif(error_message, ''), 'none; never sent') || ')'
  WHERE id IN (SELECT id FROM targets WHERE state = 0 AND coalesce(acked_ms, created_ms) < $1
               LIMIT $4)
  AND state = 0 RETURNING kind, created_ms

-- name: retry_candidates
SELECT t.id FROM targets t WHERE t.state = 3 AND EXISTS
  (SELECT 1 FROM links l WHERE l.target = t.id) LIMIT $1

-- From the targets' own sequence, so that no later insert draws one of them.
-- name: ids_draw
SELECT nextval(pg_get_serial_sequence('targets', 'id')) FROM generate_series(1, $1)

-- The count and hook triggers see the old and new versions apart (schema_v2.sql), and the links
-- still name the old id when they run.
-- name: targets_requeue
UPDATE targets t SET id = u.fresh, state = 0, attempts = 0, created_ms = $3, updated_ms = $3,
  acked_ms = NULL, error_code = NULL, error_message = NULL
  FROM unnest($1::bigint[], $2::bigint[]) AS u(old, fresh) WHERE t.id = u.old AND t.state = 3

-- name: links_retarget
UPDATE links l SET target = u.fresh FROM unnest($1::bigint[], $2::bigint[]) AS u(old, fresh)
  WHERE l.target = u.old

-- name: escalations_retarget
UPDATE escalations e SET target = u.fresh FROM unnest($1::bigint[], $2::bigint[]) AS u(old, fresh)
  WHERE e.target = u.old

-- The oldest intents in index order, each checked by its own links, each link by a primary-key
-- lookup of its target. Written so that the planner has no other choice (OFFSET 0 keeps the
-- check a per-intent subplan, the scalar subquery a lookup per link): as joins it hashed every
-- link, or every pending target, per step.
-- name: intents_prunable
SELECT i.ref FROM intents i WHERE i.created_ms < $1 AND NOT EXISTS (SELECT 1 FROM links l
  WHERE l.intent = i.ref AND (SELECT t.state FROM targets t WHERE t.id = l.target) IN (0, 1)
  OFFSET 0) ORDER BY i.created_ms LIMIT $2

-- name: escalations_prunable
SELECT e.id, e.target FROM escalations e LEFT JOIN targets t ON t.id = e.target
  WHERE e.created_ms < $1 AND (t.id IS NULL OR t.state IN (2, 3))
  ORDER BY e.created_ms LIMIT $2

-- name: escalation_delete
DELETE FROM escalations WHERE id = $1

-- name: intent_unlink
DELETE FROM links WHERE intent = $1 RETURNING target

-- name: targets_drop
DELETE FROM targets t WHERE t.id = ANY($1::bigint[]) AND t.state IN (2, 3)
  AND NOT EXISTS (SELECT 1 FROM links l WHERE l.target = t.id)

-- name: intent_delete
DELETE FROM intents WHERE ref = $1

-- name: send_insert
INSERT INTO sends(account, kind, at_ms) VALUES ($1, $2, $3)

-- name: sends_trim
DELETE FROM sends WHERE at_ms <= $1 AND account = $2

-- name: sends_recent
SELECT account, kind, at_ms FROM sends WHERE at_ms > $1 ORDER BY at_ms, id

-- name: intent_find
SELECT ref, created_ms, peer_uid, peer_gid, peer_pid, lane FROM intents WHERE id = $1

-- name: intent_items
SELECT t.state, t.kind, coalesce(t.value, t.key), t.error_code, coalesce(t.error_message, ''),
  t.zone FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = $1

-- name: intent_coverers
SELECT c.kind, coalesce(c.value, c.key), (SELECT e.id FROM escalations e
  WHERE e.target = c.id ORDER BY e.id DESC LIMIT 1), g.n FROM (SELECT t.coverer,
  count(*) AS n FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = $1
  AND t.state = 2 AND t.coverer IS NOT NULL GROUP BY t.coverer ORDER BY n DESC, t.coverer
  LIMIT $2) AS g JOIN targets c ON c.id = g.coverer ORDER BY g.n DESC, g.coverer

-- name: failed_list
SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.error_code,
  coalesce(t.error_message, ''), t.updated_ms FROM targets t JOIN zones z ON z.id = t.zone
  WHERE t.state = 3 ORDER BY t.updated_ms DESC, t.id DESC LIMIT $1

-- name: counts_read
SELECT z.zone_id, c.grp, c.state, c.n, c.lane FROM (SELECT zone, grp, state, lane,
  sum(n)::bigint AS n FROM queue_counts GROUP BY zone, grp, state, lane) c
  JOIN zones z ON z.id = c.zone WHERE c.n != 0

-- One index lookup per queue (zone, group, lane), in one round trip.
-- name: queue_oldest
SELECT q.g, (SELECT created_ms FROM targets WHERE zone = $1 AND grp = q.g AND lane = q.l
  AND state = 0 ORDER BY id LIMIT 1) FROM unnest($2::int[], $3::int[]) AS q(g, l)

-- name: everything_last
SELECT at_ms FROM everything_sent WHERE zone = $1

-- name: health_probe
INSERT INTO health(id, probed_ms) VALUES (1, $1)
  ON CONFLICT (id) DO UPDATE SET probed_ms = excluded.probed_ms

-- name: escalate_head
SELECT coalesce(value, key) FROM targets WHERE zone = $1 AND grp = $2 AND lane = $3
  AND state = 0 ORDER BY id LIMIT $4

-- name: escalation_last_state
SELECT t.state FROM escalations e LEFT JOIN targets t ON t.id = e.target
  WHERE e.zone = $1 AND e.prefix = $2 ORDER BY e.id DESC LIMIT 1

-- Each reads at most `cap` entries of one key range of a partial index (targets_twin for pending
-- rows, targets_known for the others).
-- name: count_pending_in
SELECT count(*) FROM (SELECT 1 FROM targets WHERE zone = $1 AND kind = $2 AND key >= $3
  AND key < $4 AND state = 0 LIMIT $5) AS pending

-- name: count_known_in
SELECT count(*) FROM (SELECT 1 FROM targets WHERE zone = $1 AND kind = $2 AND key >= $3
  AND key < $4 AND state != 0 LIMIT $5) AS known

-- name: escalation_insert
INSERT INTO escalations(zone, prefix, target, urls, known, created_ms)
  VALUES ($1, $2, $3, $4, $5, $6) RETURNING id

-- name: intent_ref
SELECT ref FROM intents WHERE id = $1

-- name: intent_tally
SELECT count(*), count(*) FILTER (WHERE t.state IN (0, 1)),
  count(*) FILTER (WHERE t.state = 3) FROM links l JOIN targets t ON t.id = l.target
  WHERE l.intent = $1

-- name: hook_wait_insert
INSERT INTO hook_waits(intent, zones, total, remaining, failed) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (intent) DO NOTHING

-- name: hook_runs_insert
INSERT INTO hook_runs(intent, hook, state, updated_ms)
  SELECT $1, h, $3, $4 FROM unnest($2::text[]) AS h ON CONFLICT (intent, hook) DO NOTHING

-- SKIP LOCKED and the state check again: daemons sharing the database claim the same hook's runs
-- at the same time, and each run must go to one of them.
-- name: hook_runs_claim
UPDATE hook_runs SET state = 2, attempts = attempts + 1, updated_ms = $2, lease_host = $4
  WHERE state = 1 AND (intent, hook) IN (SELECT intent, hook FROM hook_runs WHERE
  state = 1 AND hook = $1 AND next_ms <= $2 ORDER BY next_ms LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING intent, attempts, next_ms, coalesce(last_error, '')

-- name: hook_waits_about
SELECT w.intent, i.id, w.zones, w.total, w.failed, i.lane FROM hook_waits w
  JOIN intents i ON i.ref = w.intent WHERE w.intent = ANY($1::bigint[])

-- name: hook_next_due
SELECT min(next_ms) FROM hook_runs WHERE state = 1 AND hook = $1

-- Only a run still marked running, as on SQLite, and by this daemon: one that was reclaimed
-- meanwhile (a lost connection) is another daemon's now.
-- name: hook_run_finish
UPDATE hook_runs SET state = $3, next_ms = $4, last_error = $5, updated_ms = $6
  WHERE intent = $1 AND hook = $2 AND state = 2 AND lease_host = $7

-- name: hook_items
SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.state, coalesce(t.headers, '')
  FROM links l JOIN targets t ON t.id = l.target JOIN zones z ON z.id = t.zone
  WHERE l.intent = $1 AND l.target > $2 ORDER BY l.target LIMIT $3

-- name: intent_hook_runs
SELECT w.intent, r.hook, r.state, r.attempts, r.next_ms, coalesce(r.last_error, ''),
  r.updated_ms, w.zones, w.total, w.failed FROM intents i JOIN hook_waits w ON
  w.intent = i.ref JOIN hook_runs r ON r.intent = w.intent WHERE i.id = $1
  ORDER BY r.hook LIMIT 256

-- name: hook_counts
SELECT hook, state, n FROM hook_counts WHERE n != 0 ORDER BY hook, state LIMIT 1000
