-- Completion hooks (docs/delivery.md). Idempotent and outside the schema version, like
-- everything_sent.sql. hook_waits keeps, per intent that has hooks, how many of its linked targets
-- are unfinished and failed, so "the intent became terminal" is seen by the trigger of the
-- target that finished it, at a cost of the intents linked to that target (links_target), never
-- by counting the intent's items. A pending twin shared by several intents counts in each of
-- them; a failed target retried (failed -> pending) counts as unfinished again, and the hooks
-- run again when the intent is terminal again. hook_open counts the intents still waiting, so
-- while none is, a target's state change costs one primary-key lookup more (a partial index on
-- remaining > 0 did the same but doubled the cost of each settled row when hooks were in use;
-- UPDATE ... FROM instead of IN (subquery) saves building a temporary table per row).
-- hook_runs: one per intent and hook (HookState); hook_counts: runs by hook and state.
-- Reopened (a failed item retried), an intent's due and running runs wait again: a retry due
-- must not run while items are pending, and a run still going reports the old round, which
-- finish_hook_run then drops (it only records a run still marked running), so the fresh round
-- runs once the intent is terminal again. hook_waits_turned is dropped and created on each
-- open because earlier builds created it without the reopening half.
CREATE TABLE IF NOT EXISTS hook_waits(
  intent INTEGER PRIMARY KEY REFERENCES intents(ref) ON DELETE CASCADE,
  zones TEXT NOT NULL,
  total INTEGER NOT NULL,
  remaining INTEGER NOT NULL,
  failed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hook_open(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO hook_open(id, n) SELECT 1, count(*) FROM hook_waits WHERE remaining > 0;
CREATE TABLE IF NOT EXISTS hook_runs(
  intent INTEGER NOT NULL REFERENCES hook_waits(intent) ON DELETE CASCADE,
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY(intent, hook)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hook_runs_due ON hook_runs(hook, next_ms) WHERE state = 1;
CREATE INDEX IF NOT EXISTS hook_runs_running ON hook_runs(intent) WHERE state = 2;
CREATE TABLE IF NOT EXISTS hook_counts(
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(hook, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS targets_hook_finished AFTER UPDATE OF state ON targets
  WHEN OLD.state IN (0, 1) AND NEW.state IN (2, 3)
   AND (SELECT n FROM hook_open WHERE id = 1) > 0 BEGIN
  UPDATE hook_waits SET remaining = remaining - 1, failed = failed + (NEW.state = 3)
    FROM (SELECT intent FROM links WHERE target = NEW.id) AS l
    WHERE hook_waits.intent = l.intent;
END;
-- By the row's old id: a retried failure is queued again under a new id, and its links follow it
-- in the next statement (earlier builds read NEW.id, hence the drop).
DROP TRIGGER IF EXISTS targets_hook_reopened;
CREATE TRIGGER targets_hook_reopened AFTER UPDATE OF state ON targets
  WHEN OLD.state IN (2, 3) AND NEW.state IN (0, 1) AND EXISTS (SELECT 1 FROM hook_waits) BEGIN
  UPDATE hook_waits SET remaining = remaining + 1, failed = failed - (OLD.state = 3)
    FROM (SELECT intent FROM links WHERE target = OLD.id) AS l
    WHERE hook_waits.intent = l.intent;
END;
CREATE TRIGGER IF NOT EXISTS hook_waits_opened AFTER INSERT ON hook_waits
  WHEN NEW.remaining > 0 BEGIN
  UPDATE hook_open SET n = n + 1 WHERE id = 1;
END;
DROP TRIGGER IF EXISTS hook_waits_turned;
CREATE TRIGGER hook_waits_turned AFTER UPDATE OF remaining ON hook_waits
  WHEN (NEW.remaining = 0) != (OLD.remaining = 0) BEGIN
  UPDATE hook_open SET n = n + (CASE WHEN NEW.remaining = 0 THEN -1 ELSE 1 END) WHERE id = 1;
  UPDATE hook_runs SET state = 1, attempts = 0, next_ms = 0, last_error = NULL
    WHERE intent = NEW.intent AND state != 2 AND NEW.remaining = 0;
  UPDATE hook_runs SET state = 0
    WHERE intent = NEW.intent AND state IN (1, 2) AND NEW.remaining != 0;
END;
CREATE TRIGGER IF NOT EXISTS hook_waits_dropped AFTER DELETE ON hook_waits
  WHEN OLD.remaining > 0 BEGIN
  UPDATE hook_open SET n = n - 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_insert AFTER INSERT ON hook_runs BEGIN
  INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
    ON CONFLICT(hook, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_update AFTER UPDATE OF state ON hook_runs
  WHEN OLD.state != NEW.state BEGIN
  UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
  INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
    ON CONFLICT(hook, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_delete AFTER DELETE ON hook_runs BEGIN
  UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
END;
