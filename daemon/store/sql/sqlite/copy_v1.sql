-- Version 1 rows moved over as they are (after migrate_v1.sql and schema_v2.sql); in_flight
-- ones become pending: no request of the old process is still open.
INSERT INTO zones(zone_id) SELECT DISTINCT zone_id FROM targets_v1;
INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count)
  SELECT id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count FROM intents_v1
  ORDER BY created_ms, id;
INSERT INTO targets(id, zone, grp, kind, key, value, headers, state, flight, created_ms,
                    updated_ms, attempts, error_code, error_message)
  SELECT t.id, z.id,
         CASE WHEN t.kind = 0 AND t.headers IS NOT NULL AND t.headers != '' THEN 5 ELSE t.kind END,
         t.kind, t.key, CASE WHEN t.value = t.key THEN NULL ELSE t.value END, t.headers,
         CASE WHEN t.state = 1 THEN 0 ELSE t.state END, NULL, t.created_ms, t.updated_ms,
         t.attempts, t.error_code, t.error_message
  FROM targets_v1 t JOIN zones z ON z.zone_id = t.zone_id;
INSERT INTO links(intent, target)
  SELECT i.rowid, it.target_id FROM intent_targets it JOIN intents i ON i.id = it.intent_id;
DROP TABLE intent_targets;
DROP TABLE targets_v1;
DROP TABLE intents_v1;
INSERT INTO queue_counts(zone, grp, state, n)
  SELECT zone, grp, state, count(*) FROM targets GROUP BY zone, grp, state;
