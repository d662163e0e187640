#!/usr/bin/env python3
"""SQLite against PostgreSQL (issue 13): intake and drain through the real purgeqd on each store
backend, on the same machine, each beside a raw baseline of its own store measured in the same run.

Backends (--backends, comma separated, run in that order):
  sqlite       storage.path in the run's directory (same disk as the checkout by default);
               purgeqd's SQLite runs WAL with synchronous=FULL (fixed in the store, not a setting)
  pg-nosync    a throwaway PostgreSQL 15 cluster exactly as tests/integration/pg_cluster.py starts
               it for the tests: fsync=off, synchronous_commit=on (its default); a COMMIT waits
               for the WAL write, never for the disk
  pg-durable   the same cluster with fsync=on and synchronous_commit=on: a COMMIT waits for the
               WAL's fsync, the durability SQLite's synchronous=FULL gives
Each PostgreSQL cluster lives under --workdir (initdb/pg_ctl as `nobody` when root) and is removed
afterwards; the settings the server reports (SHOW fsync, ...) are printed and kept in the JSON.

Per backend:
  * raw baselines just before and after the intake runs: SQLite one-row commits on the same disk
    (purgeq_sqlite_rate, WAL, synchronous=FULL) always, and for PostgreSQL one-row INSERT + COMMIT
    round trips on the same cluster over its Unix socket (pgbench, 1 client, custom script);
  * intake: a fresh purgeqd (fresh database) with an unreachable upstream, so nothing drains;
    --clients keep-alive clients (purgeq_loadgen) submit intents of 1 URL for --intake-seconds,
    then intents of --bulk-items URLs (--bulk-requests each), then as many again after an
    ANALYZE of the PostgreSQL database (what autovacuum gives a long-running server; the daemon
    analyses only at start, when the database is empty; SQLite: the same run again); acknowledged
    intents/s and items/s, p50/p99 of the ack latency, CPU seconds of the daemon (and of the
    PostgreSQL server), the writer's jobs per commit (GET /metrics: group commit);
  * drain: --drain-items unique URLs over three zones are stored while the upstream is
    unreachable (intents of 10,000 URLs from 4 connections: the fill rate), purgeqd is stopped,
    started again against the fake Cloudflare API (tests/fake_cloudflare) with a generous budget
    (--rate URLs/s, 500 per request, no API-wide limit) and timed from spawn until GET /v1/status
    shows nothing pending or in flight; URL requests against the minimum (one per 500 URLs per
    zone), 429s, every URL purged, CPU seconds per 1,000 items of the daemon and of the server;
  * the raw fake: --fake-requests POSTs of 500 URLs straight to it from 4 keep-alive
    connections (the daemon's default max_in_flight): the drain's ceiling if the store cost
    nothing.
  * PostgreSQL only: the server's own statistics of each database once the daemon has stopped
    (transactions, so commits per intent; per table sequential and index scans, rows written),
    then the database is dropped so its autovacuum stays out of the next phase.
Server CPU is the postmaster and all its processes (backends, WAL writer, autovacuum, ...).

The machine is shared and noisy (fsync flips between ~0.15 ms and ~4 ms regimes within minutes):
read each figure as a ratio to the baseline measured beside it, and compare backends by those
ratios, not by absolute numbers across runs.

Usage (Python 3 standard library only; PostgreSQL 15 binaries in /usr/lib/postgresql/15/bin or
$PURGEQ_PG_BIN; a build with purgeqd, bench/purgeq_loadgen and bench/purgeq_sqlite_rate):
  python3 bench/run_backends.py --build build-cc                 # ~4 min
  python3 bench/run_backends.py --build build-cc --quick         # ~1 min
Output: a Markdown table on stdout, the JSON to --out (default bench/results/backends-<UTC>.json).
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import pg_cluster  # noqa: E402  (the tests' throwaway cluster, unchanged)
import run_drain  # noqa: E402  (fake, daemon, fill, request analysis)

CLK_TCK = os.sysconf("SC_CLK_TCK")
BACKENDS = ("sqlite", "pg-nosync", "pg-durable")
PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
               "full_page_writes", "wal_level", "shared_buffers", "commit_delay")


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# CPU from /proc


def cpu_ticks(pid):
    """utime + stime of one process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    fields = text[text.rfind(")") + 2:].split()  # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])


def _stat(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    return text[text.rfind(")") + 2:].split()


def tree_ticks(root_pid):
    """CPU of a process and its descendants: the live ones' utime+stime plus cutime+cstime of
    each (children that already exited and were reaped). For the postmaster this is the whole
    server: backends, walwriter, checkpointer, ..."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(entry)[1])
            except (OSError, IndexError, ValueError):
                pass
    tree = {root_pid}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    total = 0
    for pid in tree:
        try:
            f = _stat(pid)
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        except (OSError, IndexError, ValueError):
            pass  # exited meanwhile
    return total


# ------------------------------------------------------------------------------------------
# PostgreSQL


STATEMENTS = ("-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all "
              "-c pg_stat_statements.max=1000")


def cluster_class(durable, statements):
    """pg-nosync without --pg-statements is pg_cluster.Cluster itself, as the tests start it.
    Otherwise a subclass that differs only in the server's options: fsync and
    synchronous_commit on (pg-durable), and/or pg_stat_statements loaded."""
    if not durable and not statements:
        return pg_cluster.Cluster
    options = ("-c fsync=on -c synchronous_commit=on" if durable else "-c fsync=off")
    if statements:
        options += " " + STATEMENTS

    class BenchCluster(pg_cluster.Cluster):
        def start(self):
            self._as_server([os.path.join(pg_cluster.PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                             self.log, "-w", "-o",
                             f"-k {self.dir} -c listen_addresses='' {options}", "start"])

    return BenchCluster


def postmaster_pid(cluster):
    with open(os.path.join(cluster.data, "postmaster.pid")) as f:
        return int(f.readline().strip())


def pg_settings(cluster):
    return {name: cluster.psql(f"SHOW {name}") for name in PG_SETTINGS}


def pg_raw_rate(cluster, workdir, seconds):
    """One-row INSERT + COMMIT round trips (autocommit), 1 client, over the cluster's socket:
    the PostgreSQL counterpart of purgeq_sqlite_rate."""
    db = "rawbase"
    if cluster.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "0":
        cluster.create_database(db)
        cluster.psql("CREATE TABLE rows (id bigserial PRIMARY KEY, created_ms bigint NOT NULL, "
                     "item text NOT NULL)", db=db)
    d = tempfile.mkdtemp(prefix="pgbench-", dir=workdir)
    script = os.path.join(d, "insert.sql")
    with open(script, "w") as f:
        f.write("INSERT INTO rows (created_ms, item) VALUES "
                "((extract(epoch from clock_timestamp()) * 1000)::bigint, "
                "'https://www.example.com/raw/' || :client_id || '/' || random());\n")
    try:
        r = subprocess.run([os.path.join(pg_cluster.PG_BIN, "pgbench"), "-n", "-c", "1", "-j",
                            "1", "-T", str(max(1, round(seconds))), "-f", script, "-l",
                            "--log-prefix", os.path.join(d, "log"), "-h", cluster.dir, "-U",
                            "postgres", db], capture_output=True, text=True,
                           timeout=seconds + 60, cwd=d)
        if r.returncode != 0:
            raise BenchError(f"pgbench failed: {r.stderr.strip()[-500:]}")
        lat = []
        for name in os.listdir(d):
            if name.startswith("log"):
                with open(os.path.join(d, name)) as f:
                    lat.extend(int(line.split()[2]) / 1000.0 for line in f if line.strip())
        lat.sort()
        wall = max(1, round(seconds))
        return dict(commits_per_second=round(len(lat) / wall, 1), commits=len(lat),
                    p50_ms=round(percentile(lat, 50), 3), p99_ms=round(percentile(lat, 99), 3))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sqlite_raw_rate(tool, workdir, seconds):
    d = tempfile.mkdtemp(prefix="sqlite-raw-", dir=workdir)
    try:
        r = subprocess.run([tool, "--dir", d, "--seconds", str(seconds)], capture_output=True,
                           text=True, timeout=seconds + 120, check=True)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        return {k: out[k] for k in ("commits_per_second", "commits", "p50_ms", "p99_ms")}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)
    return sorted_values[k]


def geomean(a, b):
    return math.sqrt(a * b) if a and b else (a or b)


def fake_direct(args, workdir):
    """URLs/s of 500-URL POSTs straight to a fresh fake from --fake-connections keep-alive
    connections (the daemon's default max_in_flight is 4): the drain's ceiling when the store
    costs nothing."""
    ns = drain_args(args)
    fake = run_drain.Fake(workdir, run_drain.fake_config(ns)).start()
    zone_name, zone_id = run_drain.ZONES[0]
    per_conn = max(1, args.fake_requests // args.fake_connections)
    errors = []

    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
        try:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(per_conn):
                body = json.dumps({"files": [f"https://www.{zone_name}/direct/{c}/{i}/{j}"
                                             for j in range(500)]})
                conn.request("POST", f"/client/v4/zones/{zone_id}/purge_cache", body,
                             {"Content-Type": "application/json",
                              "Authorization": f"Bearer {run_drain.TOKEN}"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors.append(r.status)
        finally:
            conn.close()

    try:
        threads = [threading.Thread(target=client, args=(c,)) for c in
                   range(args.fake_connections)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        elapsed = time.monotonic() - started
    finally:
        fake.stop()
    n = per_conn * args.fake_connections
    return dict(connections=args.fake_connections, requests=n, non_200=len(errors),
                requests_per_second=round(n / elapsed, 1),
                urls_per_second=round(n * 500 / elapsed, 1))


def pg_database_stats(cluster, db):
    """What the server did for one database: transactions (so commits per intent: group
    commit) and, per table, scans and row changes (a sequential scan of a queue table on a hot
    path would show here)."""
    row = cluster.psql(f"SELECT xact_commit, xact_rollback, blks_read, blks_hit FROM "
                       f"pg_stat_database WHERE datname = '{db}'").split("|")
    out = dict(xact_commit=int(row[0]), xact_rollback=int(row[1]), blks_read=int(row[2]),
               blks_hit=int(row[3]), tables={})
    text = cluster.psql("SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), "
                        "n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                        "ORDER BY relname", db=db)
    for line in filter(None, text.splitlines()):
        name, *vals = line.split("|")
        out["tables"][name] = dict(zip(("seq_scan", "seq_tup_read", "idx_scan", "ins", "upd",
                                        "del"), map(int, vals)))
    return out


def top_statements(cluster, db, limit=10):
    """--pg-statements: the statements (nested ones too) that took the server's time in `db`,
    most first; then the counters are reset for the next phase."""
    text = cluster.psql(
        "SELECT calls, round(total_exec_time::numeric, 1), rows, "
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 300) FROM pg_stat_statements "
        f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{db}') "
        f"ORDER BY total_exec_time DESC LIMIT {limit}")
    cluster.psql("SELECT pg_stat_statements_reset()")
    out = []
    for line in filter(None, text.splitlines()):
        calls, ms, rows, query = line.split("|", 3)
        out.append(dict(calls=int(calls), total_ms=float(ms), rows=int(rows), query=query))
    return out


# ------------------------------------------------------------------------------------------
# One backend


class Backend:
    """The store of one variant: where the daemon's queue lives and how to measure its raw
    commit rate and its server's CPU."""

    def __init__(self, name, args, root):
        self.name = name
        self.args = args
        self.root = root
        self.cluster = None
        self.databases = 0
        self.database = None
        if name != "sqlite":
            # The cluster under --workdir, on the checkout's disk (the class takes tempfile's
            # default directory).
            saved = tempfile.tempdir
            tempfile.tempdir = str(root)
            try:
                self.cluster = cluster_class(name == "pg-durable", args.pg_statements)()
                if args.pg_statements:
                    self.cluster.psql("CREATE EXTENSION pg_stat_statements")
            finally:
                tempfile.tempdir = saved

    def settings(self):
        if self.cluster is None:
            return dict(journal_mode="wal", synchronous="FULL (fixed in daemon/store)")
        return pg_settings(self.cluster)

    def storage(self, daemon):
        """The daemon's storage: block, on a fresh database."""
        if self.cluster is None:
            return {"path": daemon.db_path}
        self.databases += 1
        self.database = f"q{self.databases}"
        dsn = self.cluster.create_database(self.database)
        return {"backend": "postgres", "dsn": dsn}

    def finish_database(self):
        """The server's statistics of the database just used, then drop it, so that its
        autovacuum does not run into the next phase's figures."""
        if self.cluster is None or self.database is None:
            return None
        # A backend's statistics reach shared memory when it exits (the daemon has stopped);
        # wait for its connections to be gone.
        run_drain.wait_until(lambda: self.cluster.psql(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.database}'") == "0",
            30, f"the daemon's sessions on {self.database} to end")
        stats = pg_database_stats(self.cluster, self.database)
        if self.args.pg_statements:
            stats["statements"] = top_statements(self.cluster, self.database)
        self.cluster.psql(f"DROP DATABASE {self.database}")
        self.database = None
        return stats

    def raw(self, seconds):
        out = dict(sqlite=sqlite_raw_rate(self.args.sqlite_rate, str(self.root), seconds))
        if self.cluster is not None:
            out["postgres"] = pg_raw_rate(self.cluster, str(self.root), seconds)
        return out

    def server_ticks(self):
        return tree_ticks(postmaster_pid(self.cluster)) if self.cluster else 0

    def close(self):
        if self.cluster is not None:
            self.cluster.close()


def drain_args(args):
    return argparse.Namespace(rate=args.rate, max_urls=500, global_requests=0,
                              max_in_flight=None, linger="200ms", log_level="warning",
                              items=args.drain_items, batch=10000, fill_threads=4,
                              fill_timeout=600)


def new_daemon(args, backend, workdir, epoch, api_base, storage=None):
    d = run_drain.Daemon(args.purgeqd, str(workdir), epoch)
    config = run_drain.daemon_config(drain_args(args), d,
                                     api_base, filling=api_base == run_drain.UNREACHABLE_API)
    config["log"] = {"level": "warning"}
    config["storage"] = storage or backend.storage(d)
    d.write_config(config)
    return d, config


def loadgen(args, argv, timeout=600):
    r = subprocess.run([args.loadgen] + [str(a) for a in argv], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise BenchError(f"no result from loadgen {argv[0]} (exit {r.returncode}): "
                         f"{r.stderr[-500:]}")
    out = json.loads(lines[-1])
    if out.get("errors"):
        out["first_error"] = r.stderr.strip()[-300:]
    return out


def store_counters(daemon):
    """The writer's commits and jobs (GET /metrics): jobs per commit is group commit at work."""
    code, body = daemon.request("GET", "/metrics")
    out = {}
    text = body if isinstance(body, str) else json.dumps(body)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("purgeq_storage_commits_total", "purgeq_storage_jobs_total"):
            out[name.split("_")[2]] = float(value)
    return out


def measured(daemon, backend, fn, counters=None):
    """Runs fn(); returns (its result, wall s, daemon CPU s, server CPU s). With a dict in
    `counters`, also the writer's jobs per commit over the run."""
    m0 = store_counters(daemon) if counters is not None else None
    c0, s0, t0 = cpu_ticks(daemon.proc.pid), backend.server_ticks(), time.monotonic()
    result = fn()
    t1, c1, s1 = time.monotonic(), cpu_ticks(daemon.proc.pid), backend.server_ticks()
    if m0 is not None:
        m1 = store_counters(daemon)
        commits = m1.get("commits", 0) - m0.get("commits", 0)
        jobs = m1.get("jobs", 0) - m0.get("jobs", 0)
        counters.update(commits=int(commits), jobs=int(jobs),
                        jobs_per_commit=round(jobs / commits, 2) if commits else None)
    return result, t1 - t0, (c1 - c0) / CLK_TCK, (s1 - s0) / CLK_TCK


def intake(args, backend, workdir, epoch):
    d, _ = new_daemon(args, backend, workdir, epoch, run_drain.UNREACHABLE_API)
    host = run_drain.ZONES[0][0]
    out = {}
    try:
        d.start("intake")
        group = {}
        single, _, cpu, srv = measured(d, backend, lambda: loadgen(
            args, ["single", "--socket", d.socket_path, "--clients", args.clients, "--seconds",
                   args.intake_seconds, "--host", "www." + host, "--zone", host]), group)
        out["single"] = dict(intents_per_second=single["per_second"],
                             items_per_second=single["per_second"], intents=single["requests"],
                             p50_ms=single["p50_ms"], p99_ms=single["p99_ms"],
                             errors=single["errors"], daemon_cpu_s=round(cpu, 2),
                             server_cpu_s=round(srv, 2),
                             daemon_cpu_s_per_1k=round(1000 * cpu / max(1, single["requests"]), 3),
                             server_cpu_s_per_1k=round(1000 * srv / max(1, single["requests"]), 3),
                             store=group)
        def bulk_run():
            group = {}
            bulk, _, cpu, srv = measured(d, backend, lambda: loadgen(
                args, ["bulk", "--socket", d.socket_path, "--clients", args.clients,
                       "--requests", args.bulk_requests, "--items", args.bulk_items, "--host",
                       "www." + host, "--zone", host]), group)
            return dict(intents_per_second=bulk["requests_per_second"],
                        items_per_second=bulk["items_per_second"], intents=bulk["requests"],
                        items=bulk["items"], p50_ms=bulk["p50_ms"], p99_ms=bulk["p99_ms"],
                        errors=bulk["errors"], first_error=bulk.get("first_error"),
                        daemon_cpu_s=round(cpu, 2), server_cpu_s=round(srv, 2),
                        daemon_cpu_s_per_1k=round(1000 * cpu / max(1, bulk["items"]), 3),
                        server_cpu_s_per_1k=round(1000 * srv / max(1, bulk["items"]), 3),
                        store=group)

        out["bulk"] = bulk_run()
        # Again on the backlog just stored, once PostgreSQL has statistics of it (what
        # autovacuum's analyze gives a long-running server within a minute or so; the daemon
        # analyses only at start, here an empty database). SQLite's store keeps no statistics:
        # the same run again on the bigger backlog.
        if backend.cluster is not None:
            backend.cluster.psql("ANALYZE", db=backend.database)
        out["bulk_analysed"] = bulk_run()
        status = d.status() or {}
        out["queued_after"] = (status.get("pending") or 0) + (status.get("in_flight_items") or 0)
        expected = single["requests"] + out["bulk"]["items"] + out["bulk_analysed"]["items"]
        out["all_queued"] = out["queued_after"] == expected
        if not out["all_queued"]:
            log(f"{backend.name}: {out['queued_after']} queued after intake, expected {expected}")
        if single["errors"]:
            log(f"{backend.name}: intake single: {single['errors']} errors: "
                f"{single.get('first_error')}")
        for k in ("bulk", "bulk_analysed"):
            if out[k]["errors"]:
                log(f"{backend.name}: intake {k}: {out[k]['errors']} errors: "
                    f"{out[k]['first_error']}")
        out["daemon_warnings"] = d.warnings()[:20]
    finally:
        d.stop()
    stats = backend.finish_database()
    if stats:
        out["pg_stats"] = stats
        intents = sum(out[k]["intents"] for k in ("single", "bulk", "bulk_analysed"))
        out["pg_commits_per_intent"] = round(stats["xact_commit"] / intents, 3)
    return out


def drain(args, backend, workdir, epoch):
    dargs = drain_args(args)
    fake = run_drain.Fake(str(workdir), run_drain.fake_config(dargs))
    d, config = new_daemon(args, backend, workdir, epoch, run_drain.UNREACHABLE_API)
    out = {}
    try:
        # 1. Store the backlog while the upstream refuses connections.
        d.start("fill")
        filled, fill_s, fill_cpu, fill_srv = measured(d, backend,
                                                      lambda: run_drain.fill(d, dargs))
        out["fill"] = dict(seconds=round(fill_s, 3),
                           items_per_second=round(args.drain_items / fill_s, 1),
                           daemon_cpu_s_per_1k=round(1000 * fill_cpu / args.drain_items, 3),
                           server_cpu_s_per_1k=round(1000 * fill_srv / args.drain_items, 3))
        d.signal_and_wait(signal.SIGTERM, timeout=60)

        # 2. Against the fake. Its bucket starts full; give the daemon's restored bucket the
        # same (run_drain's settle).
        fake.start()
        api = f"http://127.0.0.1:{fake.port}/client/v4"
        config = dict(run_drain.daemon_config(dargs, d, api, filling=False),
                      storage=config["storage"], log={"level": "warning"})
        d.write_config(config)
        time.sleep(max(args.rate, 500) / args.rate + 0.2)
        s0 = backend.server_ticks()
        t0 = time.monotonic()
        _, ready_at = d.start("drain")
        pid = d.proc.pid
        deadline = t0 + args.drain_timeout
        t1 = None
        while t1 is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{backend.name}: drain not finished after "
                                 f"{args.drain_timeout:.0f}s; log:\n{d.tail()}")
            if not d.alive():
                raise BenchError(f"{backend.name}: purgeqd exited during the drain:\n{d.tail()}")
            status = d.status()
            if status and status.get("pending") == 0 and status.get("in_flight_items") == 0:
                t1 = time.monotonic()
            else:
                time.sleep(0.02)
        # The daemon's CPU from spawn to done (it is the child started at t0).
        cpu = cpu_ticks(pid) / CLK_TCK
        srv = (backend.server_ticks() - s0) / CLK_TCK
        drain_s = t1 - t0
        d.signal_and_wait(signal.SIGTERM, timeout=60)
        stats, entries, purged = run_drain.fetch_end_state(fake)
        req = run_drain.analyse_requests(entries, t0, 500)
        check = run_drain.check_purged(purged, args.drain_items)
        minimum = sum(math.ceil(run_drain.zone_count(args.drain_items, z) / 500)
                      for z in range(len(run_drain.ZONES)))
        out.update(
            seconds=round(drain_s, 3), ready_s=round(ready_at - t0, 3),
            first_request_s=req.get("first_request_s"), last_purge_s=req.get("last_request_s"),
            items_per_second=round(args.drain_items / drain_s, 1),
            ideal_seconds=round(args.drain_items / args.rate, 3),
            requests=req["files_requests"], minimum=minimum,
            requests_per_minimum=round(req["files_requests"] / minimum, 4),
            http_429=stats["rate_limited"], all_purged=check["all_purged"],
            missing=check["missing"], purged_more_than_once=check["purged_more_than_once"],
            daemon_cpu_s=round(cpu, 2), server_cpu_s=round(srv, 2),
            daemon_cpu_s_per_1k=round(1000 * cpu / args.drain_items, 3),
            server_cpu_s_per_1k=round(1000 * srv / args.drain_items, 3),
            daemon_warnings=d.warnings()[:20])
    finally:
        d.stop()
        fake.stop()
    stats = backend.finish_database()
    if stats:
        out["pg_stats"] = stats
    return out


def run_backend(name, args, root, epoch):
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    os.chmod(workdir, 0o755)  # the cluster's directory is inside; its server may be `nobody`
    result = dict(backend=name, load_before=os.getloadavg()[0])
    log(f"{name}: setting up")
    backend = Backend(name, args, workdir)
    try:
        result["settings"] = backend.settings()
        log(f"{name}: settings {result['settings']}")
        result["raw_before"] = backend.raw(args.baseline_seconds)
        log(f"{name}: raw before {result['raw_before']}")
        os.makedirs(workdir / "intake")
        result["intake"] = intake(args, backend, workdir / "intake", epoch)
        result["raw_after"] = backend.raw(args.baseline_seconds)
        log(f"{name}: intake " + json.dumps({k: result["intake"][k] for k in
                                             ("single", "bulk", "bulk_analysed")}))
        log(f"{name}: raw after {result['raw_after']}")
        raw = {}
        for store in result["raw_before"]:
            b = result["raw_before"][store]["commits_per_second"]
            a = result["raw_after"][store]["commits_per_second"]
            raw[store] = round(geomean(b, a), 1)
        result["raw_adjacent"] = raw
        own = raw["postgres" if backend.cluster else "sqlite"]
        result["intake"]["single"]["over_own_raw"] = round(
            result["intake"]["single"]["intents_per_second"] / own, 2)
        for k in ("bulk", "bulk_analysed"):
            result["intake"][k]["intents_over_own_raw"] = round(
                result["intake"][k]["intents_per_second"] / own, 2)
        os.makedirs(workdir / "fake")
        result["fake_direct"] = fake_direct(args, str(workdir / "fake"))
        os.makedirs(workdir / "drain")
        result["drain"] = drain(args, backend, workdir / "drain", epoch)
        dr = result["drain"]
        dr["over_fake_direct"] = round(dr["items_per_second"] /
                                       result["fake_direct"]["urls_per_second"], 3)
        log(f"{name}: fill {dr['fill']['items_per_second']:,.0f}/s, drain {dr['seconds']}s, "
            f"{dr['requests']} requests (min {dr['minimum']}), daemon CPU "
            f"{dr['daemon_cpu_s_per_1k']} s/1k, server {dr['server_cpu_s_per_1k']} s/1k")
    except (BenchError, subprocess.SubprocessError, OSError, AssertionError,
            run_drain.BenchError) as error:
        result["error"] = str(error)[:3000]
        log(f"{name}: ERROR {error}")
    finally:
        backend.close()
        result["load_after"] = os.getloadavg()[0]
        if not args.keep and "error" not in result:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["workdir"] = str(workdir)
    return result


# ------------------------------------------------------------------------------------------
# Output


def markdown(results, args):
    def lat(x):
        return f"{x['intents_per_second']:,.0f} ({x['p50_ms']:.1f} / {x['p99_ms']:.1f})"

    def cpu(x, scale, digits):
        text = f"{scale * x['daemon_cpu_s_per_1k']:.{digits}f}"
        if x["server_cpu_s_per_1k"]:
            text += f" + {scale * x['server_cpu_s_per_1k']:.{digits}f}"
        return text

    ok = [r for r in results if "error" not in r]
    lines = [
        f"Intake: {args.clients} clients, intents of 1 URL for {args.intake_seconds} s, then "
        f"{args.clients} × {args.bulk_requests} intents of {args.bulk_items} URLs, then as many "
        "again once PostgreSQL has analysed the backlog (SQLite: the same again).",
        "",
        "| backend | raw commits/s: own (SQLite) | 1-URL intents/s (p50 / p99 ms) | ÷ own raw "
        "| CPU ms per intent: daemon + server "
        f"| {args.bulk_items}-URL intents/s (p50 / p99 ms) | items/s | CPU ms per 1k items "
        f"| {args.bulk_items}-URL again, analysed (p50 / p99 ms) | items/s | CPU ms per 1k items "
        "| jobs per commit (1-URL / 100 / again) |",
        "| --- |" + " --- |" * 11,
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['backend']} | error: {r['error'][:200]} |" + " |" * 10)
            continue
        i, raw = r["intake"], r["raw_adjacent"]
        own = raw.get("postgres", raw["sqlite"])
        own_text = f"{own:,.0f} ({raw['sqlite']:,.0f})" if "postgres" in raw else f"{own:,.0f}"
        s, b, a = i["single"], i["bulk"], i["bulk_analysed"]
        lines.append(
            f"| {r['backend']} | {own_text} | {lat(s)} | {s['over_own_raw']:.2f} "
            f"| {cpu(s, 1, 2)} | {lat(b)} | {b['items_per_second']:,.0f} | {cpu(b, 1000, 0)} "
            f"| {lat(a)} | {a['items_per_second']:,.0f} | {cpu(a, 1000, 0)} "
            f"| {' / '.join(str(x['store'].get('jobs_per_commit')) for x in (s, b, a))} |")
    lines += [
        "",
        f"Drain: {args.drain_items:,} URLs over 3 zones (filled in intents of 10,000 URLs), "
        f"fake at {args.rate:,} URLs/s, 500 per request; raw fake: 500-URL POSTs from "
        f"{args.fake_connections} connections.",
        "",
        "| backend | fill items/s | drain s | URLs/s | raw fake URLs/s | ÷ raw fake "
        "| requests / minimum | 429s | purged | CPU s per 1k URLs: daemon + server |",
        "| --- |" + " --- |" * 9,
    ]
    for r in ok:
        dr = r["drain"]
        lines.append(
            f"| {r['backend']} | {dr['fill']['items_per_second']:,.0f} | {dr['seconds']:.2f} "
            f"| {dr['items_per_second']:,.0f} | {r['fake_direct']['urls_per_second']:,.0f} "
            f"| {dr['over_fake_direct']:.2f} | {dr['requests']} / {dr['minimum']} "
            f"| {dr['http_429']} "
            f"| {'all' if dr['all_purged'] else str(dr['missing']) + ' missing'} "
            f"| {cpu(dr, 1, 3)} |")
    lines.append("")
    for r in ok:
        rb, ra = r["raw_before"], r["raw_after"]
        parts = [f"{k} {rb[k]['commits_per_second']:,.0f} → {ra[k]['commits_per_second']:,.0f}"
                 f"/s (p99 {rb[k]['p99_ms']:.2f} / {ra[k]['p99_ms']:.2f} ms)" for k in rb]
        setting = ", ".join(f"{k}={v}" for k, v in r["settings"].items()
                            if k != "server_version")
        lines.append(f"- {r['backend']}: {setting}; raw before → after: " + "; ".join(parts) +
                     f"; load {r['load_before']:.1f} → {r['load_after']:.1f}")
        if "pg_stats" in r["intake"]:
            ti = r["intake"]["pg_stats"]["tables"].get("targets", {})
            td = r["drain"]["pg_stats"]["tables"].get("targets", {})
            lines.append(f"  - server: {r['intake']['pg_commits_per_intent']:.2f} transactions "
                         f"per intent during intake (all of the database's, reads included); "
                         f"sequential scans of `targets` (rows read): intake "
                         f"{ti.get('seq_scan')} ({ti.get('seq_tup_read'):,}), fill + drain "
                         f"{td.get('seq_scan')} ({td.get('seq_tup_read'):,})")
    base = next((r for r in ok if r["backend"] == "sqlite"), None)
    for r in ok:
        if base is None or r is base:
            continue

        def ratio(*path):
            a, b = r, base
            for k in path:
                a, b = a[k], b[k]
            return a / b if b else float("nan")

        single = ratio("intake", "single", "intents_per_second")
        lines.append(
            f"- {r['backend']} / sqlite: 1-URL intake {single:.2f}×, "
            f"{args.bulk_items}-URL intake {ratio('intake', 'bulk', 'items_per_second'):.2f}× "
            f"(analysed {ratio('intake', 'bulk_analysed', 'items_per_second'):.2f}×), fill "
            f"{ratio('drain', 'fill', 'items_per_second'):.2f}×, drain time "
            f"{ratio('drain', 'seconds'):.2f}×")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--build", default=str(ROOT / "build"),
                   help="holds purgeqd, bench/purgeq_loadgen, bench/purgeq_sqlite_rate")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma separated, run in this order: " + ", ".join(BACKENDS))
    p.add_argument("--quick", action="store_true",
                   help="~1 min: shorter runs, 20,000-URL drain (explicit flags still win)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--intake-seconds", type=float, default=None, help="default 5 (quick 2)")
    p.add_argument("--bulk-items", type=int, default=100, help="URLs per intent, bulk intake")
    p.add_argument("--bulk-requests", type=int, default=None,
                   help="intents per client, bulk intake (default 250, quick 50)")
    p.add_argument("--drain-items", type=int, default=None, help="default 100000 (quick 20000)")
    p.add_argument("--rate", type=int, default=100000, help="the fake's URL rate (URLs/s)")
    p.add_argument("--fake-requests", type=int, default=None,
                   help="raw fake baseline: 500-URL POSTs (default 200, quick 50)")
    p.add_argument("--fake-connections", type=int, default=4,
                   help="raw fake baseline: keep-alive connections (the daemon's max_in_flight)")
    p.add_argument("--baseline-seconds", type=float, default=None, help="default 3 (quick 1)")
    p.add_argument("--drain-timeout", type=float, default=300)
    p.add_argument("--workdir", default="/var/tmp",
                   help="parent of the run's directory (keep it on the checkout's disk)")
    p.add_argument("--keep", action="store_true", help="keep the run's directory")
    p.add_argument("--pg-statements", action="store_true",
                   help="diagnosis: load pg_stat_statements (track=all) and keep each phase's "
                   "10 costliest statements in the JSON (adds overhead: not for the figures)")
    p.add_argument("--out", help="JSON (default bench/results/backends-<UTC time>.json)")
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, short in (("intake_seconds", 5, 2), ("bulk_requests", 250, 50),
                              ("drain_items", 100000, 20000), ("fake_requests", 200, 50),
                              ("baseline_seconds", 3, 1)):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or any(b not in BACKENDS for b in backends):
        p.error(f"--backends: choose from {', '.join(BACKENDS)}")
    build = Path(args.build).resolve()
    args.purgeqd = str(build / "purgeqd")
    args.loadgen = str(build / "bench" / "purgeq_loadgen")
    args.sqlite_rate = str(build / "bench" / "purgeq_sqlite_rate")
    for tool in (args.purgeqd, args.loadgen, args.sqlite_rate):
        if not os.access(tool, os.X_OK):
            p.error(f"not built: {tool} (cmake --build {args.build} --target purgeqd "
                    "purgeq_loadgen purgeq_sqlite_rate)")
    if any(b.startswith("pg") for b in backends):
        pg_cluster.require_postgres()
    stamp = datetime.datetime.now(datetime.timezone.utc)
    out = Path(args.out or HERE / "results" / f"backends-{stamp:%Y%m%dT%H%M%SZ}.json")

    os.makedirs(args.workdir, exist_ok=True)
    # World-traversable: the PostgreSQL server runs as `nobody` when we are root.
    root = Path(tempfile.mkdtemp(prefix="purgeq-backends-", dir=args.workdir))
    os.chmod(root, 0o755)
    epoch = time.monotonic()
    results = []
    started = time.monotonic()
    try:
        for name in backends:
            results.append(run_backend(name, args, root, epoch))
    finally:
        if not args.keep and not any("error" in r for r in results):
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept {root}")
    report = dict(
        benchmark="backends",
        date=stamp.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 1),
        host=dict(cpus=os.cpu_count(), machine=platform.machine(), kernel=platform.release(),
                  python=platform.python_version()),
        git=run_drain.git_describe(),
        purgeqd=dict(path=args.purgeqd, built=datetime.datetime.fromtimestamp(
            os.path.getmtime(args.purgeqd), datetime.timezone.utc).isoformat(timespec="seconds")),
        parameters={k: v for k, v in vars(args).items() if k not in ("out",)},
        results=results,
    )
    report["summary_markdown"] = markdown(results, args)
    print(report["summary_markdown"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    log(f"wrote {out} ({report['seconds']:.0f} s)")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
