-- Cost-based escalation and receipts that name their coverer (docs/delivery.md), added like
-- everything_sent.sql: idempotently on every open, without a schema version.
-- - escalations: one row per escalation; `target` is the prefix target it added.
-- - targets.coverer (added by SqliteBackend::add_extras): the broad target whose request completed a covered
-- row, set when the row is covered and cleared when a request of its own takes it.
-- - targets.known (added by SqliteBackend::add_extras): 1 while state != 0, NULL while pending; every
-- statement that moves a row out of or back to pending sets it.
-- - targets_known_rows: finished and in-flight rows by key, so that an escalation can count a
-- prefix's known URLs with a bounded range scan. Partial on `known`, not on state: SQLite
-- rewrites a partial index on every UPDATE that sets a column of its WHERE clause, so on
-- state != 0 each settled row cost a delete and an insert of an unchanged entry (a drain's
-- take + settle: +35 % CPU, docs/benchmarks.md); settle does not set `known`. Intake (which
-- only inserts pending rows) does not pay for it either; a row enters it when it is taken.
-- Even so it costs every take, so it exists only while some zone's escalation asks for a
-- share (SqliteBackend::index_known_urls).
CREATE TABLE IF NOT EXISTS escalations(
  id INTEGER PRIMARY KEY,
  zone INTEGER NOT NULL,
  prefix TEXT NOT NULL,
  target INTEGER NOT NULL,
  urls INTEGER NOT NULL,
  known INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS escalations_target ON escalations(target);
CREATE INDEX IF NOT EXISTS escalations_prefix ON escalations(zone, prefix);
CREATE INDEX IF NOT EXISTS escalations_created ON escalations(created_ms);
