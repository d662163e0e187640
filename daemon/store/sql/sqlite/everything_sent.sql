-- When each zone last had a purge-everything taken into a request (docs/delivery.md,
-- "Purge-everything guardrails"). Its own tiny table, because finished targets are pruned and no
-- index serves "latest everything of a zone" in any state. Kept by a trigger so that every path
-- that puts a row in flight (take, cover_step) counts. Idempotent, and no schema version: an
-- older purgeqd opening the file keeps it up to date without knowing it.
CREATE TABLE IF NOT EXISTS everything_sent(zone INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS targets_everything_sent AFTER UPDATE OF state ON targets
  WHEN NEW.state = 1 AND NEW.kind = 4 BEGIN
  INSERT INTO everything_sent(zone, at_ms) VALUES (NEW.zone, NEW.updated_ms)
    ON CONFLICT(zone) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms);
END;
