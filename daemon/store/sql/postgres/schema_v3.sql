-- Version 3: an item's give-up clock starts at its latest acknowledgement, as on SQLite
-- (sqlite/migrate_v4.sql): acked_ms, set when an intent merges into a pending twin; NULL means
-- created_ms. A daemon of version 2 still on the database gives up by created_ms only.
ALTER TABLE targets ADD COLUMN acked_ms BIGINT;
DROP INDEX IF EXISTS targets_age;
CREATE INDEX targets_age ON targets(state, (coalesce(acked_ms, created_ms)));
