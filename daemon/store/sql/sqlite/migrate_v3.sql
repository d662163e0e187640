-- Version 3: priority lanes (docs/delivery.md, "Priority lanes"). A queue is (zone, group, lane):
-- the queue index and the counts gain the lane, and a target's lane can change (a pending twin is
-- raised when a higher intent asks for it), so the count trigger follows lane changes too.
-- Existing rows are normal (1), the lane everything was sent in before.
DROP TRIGGER IF EXISTS targets_counted_insert;
DROP TRIGGER IF EXISTS targets_counted_update;
DROP TRIGGER IF EXISTS targets_counted_delete;
ALTER TABLE targets ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
ALTER TABLE intents ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
DROP INDEX IF EXISTS targets_queue;
CREATE INDEX targets_queue ON targets(zone, grp, lane) WHERE state = 0;
ALTER TABLE queue_counts RENAME TO queue_counts_v2;
CREATE TABLE queue_counts(
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(zone, grp, lane, state)
) WITHOUT ROWID;
INSERT INTO queue_counts(zone, grp, lane, state, n)
  SELECT zone, grp, 1, state, n FROM queue_counts_v2 WHERE n != 0;
DROP TABLE queue_counts_v2;
CREATE TRIGGER targets_counted_update AFTER UPDATE OF state, lane ON targets
  WHEN OLD.state != NEW.state OR OLD.lane != NEW.lane BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE zone = OLD.zone AND grp = OLD.grp AND lane = OLD.lane AND state = OLD.state;
  INSERT INTO queue_counts(zone, grp, lane, state, n)
    VALUES (NEW.zone, NEW.grp, NEW.lane, NEW.state, 1)
    ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER targets_counted_delete AFTER DELETE ON targets BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE zone = OLD.zone AND grp = OLD.grp AND lane = OLD.lane AND state = OLD.state;
END;
