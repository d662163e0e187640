-- Version 2, the layout every database is built from (a new one is built as version 2 and
-- migrated like an old one, so the migration is the path every database takes):
-- - targets: one row per distinct pending purge; (zone, grp, lane) is its queue (lane from
--   version 3), key its identity. Partial indexes hold only pending rows, so the queue heads,
--   twins and coverage ranges are found by index range scans whose cost does not depend on the
--   backlog.
-- - queue_counts: per (zone, group, lane, state), kept as rows change state or lane, so counts
--   are never scans: by triggers for updates and deletes, and by the intake for inserts (one
--   upsert per queue and intent rather than a trigger per row: that cost a third of the bulk
--   intake rate).
-- - links: which intent asked for which target (integer keys keep it small).
CREATE TABLE zones(
  id INTEGER PRIMARY KEY,
  zone_id TEXT NOT NULL UNIQUE
);
CREATE TABLE intents(
  ref INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  peer_uid INTEGER NOT NULL,
  peer_gid INTEGER NOT NULL,
  peer_pid INTEGER NOT NULL,
  source TEXT NOT NULL,
  item_count INTEGER NOT NULL
);
CREATE INDEX intents_created ON intents(created_ms);
CREATE TABLE targets(
  id INTEGER PRIMARY KEY,
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,                 -- NULL when equal to key (most URLs)
  headers TEXT,
  state INTEGER NOT NULL,
  flight INTEGER,             -- the request that took it while in_flight
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER,
  error_message TEXT
);
CREATE INDEX targets_twin ON targets(zone, kind, key) WHERE state = 0;
CREATE INDEX targets_queue ON targets(zone, grp) WHERE state = 0;
CREATE INDEX targets_flight ON targets(flight) WHERE state = 1;
CREATE INDEX targets_age ON targets(state, created_ms);
CREATE TABLE links(
  intent INTEGER NOT NULL REFERENCES intents(ref) ON DELETE CASCADE,
  target INTEGER NOT NULL,
  PRIMARY KEY(intent, target)
) WITHOUT ROWID;
CREATE INDEX links_target ON links(target);
CREATE TABLE queue_counts(
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(zone, grp, state)
) WITHOUT ROWID;
CREATE TABLE sends(account TEXT NOT NULL, kind INTEGER NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX sends_at ON sends(at_ms);
CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms INTEGER NOT NULL);
