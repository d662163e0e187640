-- Version 2: several daemons on one database. A row taken into a request is leased to the daemon
-- that took it (lease_host, its host id) for as long as that daemon's host lock is held; hosts
-- are numbered by a sequence; account_senders records who sends for each account (its id is the
-- account's lock key).
ALTER TABLE targets DROP COLUMN lease_host, DROP COLUMN lease_until_ms;
ALTER TABLE targets ADD COLUMN lease_host BIGINT;
CREATE INDEX targets_lease ON targets(lease_host) WHERE state = 1;
ALTER TABLE hook_runs ADD COLUMN lease_host BIGINT;
CREATE SEQUENCE purgeq_hosts AS INTEGER;
DROP TABLE account_leases;
CREATE TABLE account_senders(
  account TEXT PRIMARY KEY,
  host BIGINT NOT NULL,
  node TEXT NOT NULL,
  since_ms BIGINT NOT NULL
);
-- Queue counts in one shard per daemon (host; 0 for counts from before schema 2): each daemon
-- adds its changes to its own rows, so that intake on one host and takes on another never wait
-- for each other's count rows (they deadlocked, crossing zones in opposite orders). Readers sum
-- the shards; the shards of departed daemons are folded into a live one's.
ALTER TABLE queue_counts ADD COLUMN host BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queue_counts DROP CONSTRAINT queue_counts_pkey;
ALTER TABLE queue_counts ADD PRIMARY KEY (zone, grp, lane, state, host);
CREATE FUNCTION purgeq_host() RETURNS BIGINT LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('purgeq.host', true), '')::bigint, 0) $$;
-- Also without joining the transition tables: the planner, estimating one row for each, joined
-- a 500-row take's old and new rows by nested loop (250,000 comparisons, 60% of a drain's server
-- time). A row's change is its new version counted +1 and its old one -1; unchanged rows cancel.
CREATE OR REPLACE FUNCTION purgeq_targets_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, host, n)
    SELECT zone, grp, lane, state, purgeq_host(), sum(d) FROM (
      SELECT zone, grp, lane, state, -1 AS d FROM old_rows
      UNION ALL
      SELECT zone, grp, lane, state, 1 FROM new_rows) AS changes
    GROUP BY zone, grp, lane, state HAVING sum(d) != 0
    ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n;
  -- When each zone last had a purge-everything taken into a request (kind 4 now in state 1, not
  -- before): purge-everything rows are few, so each looks up its old version.
  INSERT INTO everything_sent(zone, at_ms)
    SELECT n.zone, max(n.updated_ms) FROM new_rows n
      WHERE n.kind = 4 AND n.state = 1
        AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.state = 1)
      GROUP BY n.zone
    ON CONFLICT (zone) DO UPDATE SET at_ms = greatest(everything_sent.at_ms, excluded.at_ms);
  -- Intents waiting for their hooks: finished (and failed) versions counted the same way, by
  -- intent through the links of only the versions that count.
  IF EXISTS (SELECT 1 FROM hook_waits) THEN
    UPDATE hook_waits w
      SET remaining = w.remaining - d.finished, failed = w.failed + d.failed
      FROM (SELECT l.intent, sum(c.finished) AS finished, sum(c.failed) AS failed
            FROM (SELECT id, 1 AS finished, (state = 3)::int AS failed FROM new_rows
                    WHERE state IN (2, 3)
                  UNION ALL
                  SELECT id, -1, -(state = 3)::int FROM old_rows WHERE state IN (2, 3)) AS c
            JOIN links l ON l.target = c.id
            GROUP BY l.intent HAVING sum(c.finished) != 0 OR sum(c.failed) != 0) AS d
      WHERE w.intent = d.intent;
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION purgeq_targets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, host, n)
    SELECT zone, grp, lane, state, purgeq_host(), -count(*) FROM old_rows
      GROUP BY zone, grp, lane, state
    ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n;
  RETURN NULL;
END $$;
