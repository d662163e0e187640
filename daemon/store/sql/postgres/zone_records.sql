-- Zones by name (docs/configuration.md, "Zones by name"; docs/architecture.md): run on every
-- open, idempotently, without a schema version (the versions are the queue schema's).
-- - zone_records: what Cloudflare said about each zone the last time a daemon looked it up (its
--   id, its account's id, its plan), so that a restart while the API is down starts from it.
-- - zones.zone_id holds each zone's name since zones are looked up by name: a row an older
--   purgeqd stored under the zone's id is renamed, or its pending targets moved to the name's
--   row (Store::adopt_zone_step); the statement trigger of schema_v2.sql counts such moves.
CREATE TABLE IF NOT EXISTS zone_records(
  name TEXT PRIMARY KEY,
  zone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  plan TEXT NOT NULL,
  resolved_ms BIGINT NOT NULL
);
