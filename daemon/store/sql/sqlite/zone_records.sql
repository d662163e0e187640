-- Zones by name (docs/configuration.md, "Zones by name"; docs/architecture.md), added like
-- escalations.sql: idempotently on every open, without a schema version.
-- - zone_records: what Cloudflare said about each zone the last time it was looked up (its id,
--   its account's id, its plan), so that a restart while the API is down starts from it.
-- - zones.zone_id holds each zone's name since zones are looked up by name: a row an older
--   purgeqd stored under the zone's id is renamed, or its pending targets moved to the name's
--   row (Store::adopt_zone_step). Those moves change targets.zone, which the counts trigger of
--   migrate_v3.sql does not follow (it watches state and lane): this one does.
CREATE TABLE IF NOT EXISTS zone_records(
  name TEXT PRIMARY KEY,
  zone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  plan TEXT NOT NULL,
  resolved_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS targets_counted_rezone AFTER UPDATE OF zone ON targets
  WHEN OLD.zone != NEW.zone BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE zone = OLD.zone AND grp = OLD.grp AND lane = OLD.lane AND state = OLD.state;
  INSERT INTO queue_counts(zone, grp, lane, state, n)
    VALUES (NEW.zone, NEW.grp, NEW.lane, NEW.state, 1)
    ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + 1;
END;
