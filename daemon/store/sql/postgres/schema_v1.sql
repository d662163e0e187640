-- Version 1: the layout of sqlite/schema_v2.sql and its later additions, with these
-- differences:
-- - `key` is COLLATE "C", so the coverage ranges (key >= low AND key < high, planner/coverage.h)
--   compare bytes as on SQLite and are served by the btree indexes.
-- - queue_counts and everything_sent are kept by statement-level triggers over transition
--   tables: one aggregate upsert per statement instead of one per row.
CREATE TABLE zones(
  id BIGSERIAL PRIMARY KEY,
  zone_id TEXT NOT NULL UNIQUE
);
CREATE TABLE intents(
  ref BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL,
  peer_uid BIGINT NOT NULL,
  peer_gid BIGINT NOT NULL,
  peer_pid BIGINT NOT NULL,
  source TEXT NOT NULL,
  item_count BIGINT NOT NULL,
  lane INTEGER NOT NULL
);
CREATE INDEX intents_created ON intents(created_ms);
-- lease_host and lease_until_ms: reserved for the multi-host slice (docs/scale-out.md), where a
-- batch is leased by the host that sends it and taken over when the lease runs out. NULL here.
CREATE TABLE targets(
  id BIGSERIAL PRIMARY KEY,
  zone BIGINT NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT,
  headers TEXT,
  state INTEGER NOT NULL,
  flight BIGINT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER,
  error_message TEXT,
  coverer BIGINT,
  lease_host TEXT,
  lease_until_ms BIGINT
);
CREATE INDEX targets_twin ON targets(zone, kind, key) WHERE state = 0;
-- (grp, zone, ...), not (zone, grp, ...): every query of a queue names its group, and a query
-- that names only the zone (coverage ranges, counts under a prefix) must not be able to use this
-- index as "the zone's pending rows" and filter them: without statistics the planner did, which
-- made those O(backlog). They use targets_twin.
CREATE INDEX targets_queue ON targets(grp, zone, lane, id) WHERE state = 0;
CREATE INDEX targets_flight ON targets(flight) WHERE state = 1;
CREATE INDEX targets_age ON targets(state, created_ms);
CREATE INDEX targets_known ON targets(zone, kind, key) WHERE state != 0;
-- No foreign key to intents (SQLite has one): its per-row check cost a third of the intake
-- statement, and links are only ever added with their intent and deleted before it (prune_step).
CREATE TABLE links(
  intent BIGINT NOT NULL,
  target BIGINT NOT NULL,
  PRIMARY KEY(intent, target)
);
CREATE INDEX links_target ON links(target);
CREATE TABLE queue_counts(
  zone BIGINT NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY(zone, grp, lane, state)
);
CREATE TABLE sends(
  id BIGSERIAL PRIMARY KEY,
  account TEXT NOT NULL,
  kind INTEGER NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX sends_at ON sends(at_ms);
CREATE TABLE health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms BIGINT NOT NULL);
CREATE TABLE everything_sent(zone BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL);
CREATE TABLE escalations(
  id BIGSERIAL PRIMARY KEY,
  zone BIGINT NOT NULL,
  prefix TEXT NOT NULL,
  target BIGINT NOT NULL,
  urls BIGINT NOT NULL,
  known BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX escalations_target ON escalations(target);
CREATE INDEX escalations_prefix ON escalations(zone, prefix);
CREATE INDEX escalations_created ON escalations(created_ms);
-- Reserved for the multi-host slice: which host sends for an account, until when.
CREATE TABLE account_leases(
  account TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  until_ms BIGINT NOT NULL
);

-- Completion hooks, as on SQLite (sqlite/hooks.sql): hook_waits keeps per intent with
-- hooks how many of its targets are unfinished and failed, kept by the targets trigger below;
-- hook_open counts the intents still waiting; hook_counts the runs by hook and state.
CREATE TABLE hook_waits(
  intent BIGINT PRIMARY KEY REFERENCES intents(ref) ON DELETE CASCADE,
  zones TEXT NOT NULL,
  total BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  failed BIGINT NOT NULL
);
CREATE TABLE hook_open(id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO hook_open(id, n) VALUES (1, 0);
CREATE TABLE hook_runs(
  intent BIGINT NOT NULL REFERENCES hook_waits(intent) ON DELETE CASCADE,
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY(intent, hook)
);
CREATE INDEX hook_runs_due ON hook_runs(hook, next_ms) WHERE state = 1;
CREATE INDEX hook_runs_running ON hook_runs(intent) WHERE state = 2;
CREATE TABLE hook_counts(
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY(hook, state)
);
CREATE FUNCTION purgeq_hook_waits_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.remaining > 0 THEN UPDATE hook_open SET n = n + 1 WHERE id = 1; END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    IF OLD.remaining > 0 THEN UPDATE hook_open SET n = n - 1 WHERE id = 1; END IF;
    RETURN NULL;
  END IF;
  IF (NEW.remaining = 0) != (OLD.remaining = 0) THEN
    UPDATE hook_open SET n = n + (CASE WHEN NEW.remaining = 0 THEN -1 ELSE 1 END) WHERE id = 1;
    IF NEW.remaining = 0 THEN
      UPDATE hook_runs SET state = 1, attempts = 0, next_ms = 0, last_error = NULL
        WHERE intent = NEW.intent AND state != 2;
    ELSE
      -- Reopened (a failed item retried): due and running runs wait again, as on SQLite.
      UPDATE hook_runs SET state = 0 WHERE intent = NEW.intent AND state IN (1, 2);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER hook_waits_changed AFTER INSERT OR UPDATE OR DELETE ON hook_waits
  FOR EACH ROW EXECUTE FUNCTION purgeq_hook_waits_changed();
CREATE FUNCTION purgeq_hook_runs_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF TG_OP = 'UPDATE' AND OLD.state = NEW.state THEN RETURN NULL; END IF;
    UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
      ON CONFLICT (hook, state) DO UPDATE SET n = hook_counts.n + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER hook_runs_counted AFTER INSERT OR UPDATE OR DELETE ON hook_runs
  FOR EACH ROW EXECUTE FUNCTION purgeq_hook_runs_counted();

-- Inserts are counted by add_intent (one upsert per queue and intent); state and lane changes
-- and deletes by these triggers, one aggregate per statement.
CREATE FUNCTION purgeq_targets_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, n)
    SELECT zone, grp, lane, state, sum(d) FROM (
      SELECT o.zone, o.grp, o.lane, o.state, -1 AS d FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.state != n.state OR o.lane != n.lane
      UNION ALL
      SELECT n.zone, n.grp, n.lane, n.state, 1 FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.state != n.state OR o.lane != n.lane) AS changes
    GROUP BY zone, grp, lane, state
    ON CONFLICT (zone, grp, lane, state) DO UPDATE SET n = queue_counts.n + excluded.n;
  -- When each zone last had a purge-everything taken into a request (kind 4, state 1).
  INSERT INTO everything_sent(zone, at_ms)
    SELECT n.zone, max(n.updated_ms) FROM old_rows o JOIN new_rows n USING (id)
      WHERE n.state = 1 AND o.state != 1 AND n.kind = 4 GROUP BY n.zone
    ON CONFLICT (zone) DO UPDATE SET at_ms = greatest(everything_sent.at_ms, excluded.at_ms);
  -- Intents waiting for their hooks: a target that finished counts down every intent linked to
  -- it, one that is pending again (a retried failure) counts back up. One aggregate per
  -- statement, at a cost of the changed targets' links, and nothing while no intent has hooks.
  IF EXISTS (SELECT 1 FROM hook_waits) THEN
    UPDATE hook_waits w
      SET remaining = w.remaining - d.finished + d.reopened, failed = w.failed + d.failed
      FROM (SELECT l.intent,
                   count(*) FILTER (WHERE o.state IN (0, 1) AND n.state IN (2, 3)) AS finished,
                   count(*) FILTER (WHERE o.state IN (2, 3) AND n.state IN (0, 1)) AS reopened,
                   count(*) FILTER (WHERE o.state IN (0, 1) AND n.state = 3)
                     - count(*) FILTER (WHERE o.state = 3 AND n.state IN (0, 1)) AS failed
            FROM old_rows o JOIN new_rows n USING (id) JOIN links l ON l.target = n.id
            WHERE (o.state IN (0, 1)) != (n.state IN (0, 1))
            GROUP BY l.intent) AS d
      WHERE w.intent = d.intent;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER targets_counted_update AFTER UPDATE ON targets
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION purgeq_targets_updated();
CREATE FUNCTION purgeq_targets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE queue_counts c SET n = c.n - d.n
    FROM (SELECT zone, grp, lane, state, count(*) AS n FROM old_rows
          GROUP BY zone, grp, lane, state) AS d
    WHERE c.zone = d.zone AND c.grp = d.grp AND c.lane = d.lane AND c.state = d.state;
  RETURN NULL;
END $$;
CREATE TRIGGER targets_counted_delete AFTER DELETE ON targets
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION purgeq_targets_deleted();
