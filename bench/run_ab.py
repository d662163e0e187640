#!/usr/bin/env python3
"""A/B of two builds of purgeqd on the shared machine: interleaved rounds, each figure read as a
ratio to a raw baseline measured right beside it.

Per round, for each build (the order alternates every round: A B, then B A, ...):
  * raw SQLite commit rate (purgeq_sqlite_rate, same disk) just before the intake runs;
  * a fresh daemon (upstream unreachable): bulk intake (loadgen bulk, intents of 10,000 URLs),
    then single-URL intake with 64 clients; database size after stop;
  * the raw fake: keep-alive POSTs of 500 URLs straight to the fake's purge endpoint (requests/s);
  * a drain (bench/run_drain.py, variant plain, --items, --rate) against the fake: drain time,
    requests, URLs/s, the fill rate, and the database size left after the drain (finished rows
    stay until prune), read from the kept directory.

Usage (Python 3 standard library only):
  python3 bench/run_ab.py --a old=/work/wt-old/build-cc --b new=build-cc --rounds 3 \
      --out docs/bench-results/ab.json
A build directory must hold purgeqd, bench/purgeq_loadgen and bench/purgeq_sqlite_rate. The
loadgen and sqlite_rate of build A are used for both (the clients must not differ).
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_backlog  # noqa: E402
import run_drain  # noqa: E402


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sqlite_rate(tool, workdir, seconds):
    d = tempfile.mkdtemp(prefix="ab-sqlite-", dir=workdir)
    try:
        r = subprocess.run([tool, "--dir", d, "--seconds", str(seconds)], capture_output=True,
                           text=True, timeout=seconds + 120, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])["commits_per_second"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def loadgen(tool, argv, timeout):
    r = subprocess.run([tool] + [str(a) for a in argv], stdout=subprocess.PIPE, text=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"no result from loadgen {argv[0]} (exit {r.returncode})")
    return json.loads(lines[-1])


def dir_db_bytes(workdir):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(workdir, "queue.db*")))


def intake(build, args, tools):
    work = Path(tempfile.mkdtemp(prefix="ab-intake-", dir=args.workdir))
    d = run_backlog.Daemon(Path(build) / "purgeqd", work, 10_000_000, 60)
    out = {}
    try:
        d.start()
        cpu0 = run_backlog.cpu_ticks(d.pid)
        bulk = loadgen(tools["loadgen"], ["bulk", "--socket", d.socket, "--clients", 2,
                                          "--requests", args.bulk_requests, "--items", 10000,
                                          "--host", run_backlog.ZONES[0][0],
                                          "--zone", run_backlog.ZONES[0][0]],
                       timeout=600)
        cpu1 = run_backlog.cpu_ticks(d.pid)
        single = loadgen(tools["loadgen"], ["single", "--socket", d.socket, "--clients", 64,
                                            "--seconds", args.single_seconds, "--host",
                                            run_backlog.ZONES[0][0]], timeout=600)
        tick = os.sysconf("SC_CLK_TCK")
        out = dict(bulk_items_per_second=bulk["items_per_second"], bulk_errors=bulk["errors"],
                   bulk_cpu_seconds=(cpu1 - cpu0) / tick,
                   single64_per_second=single["per_second"], single64_p50_ms=single["p50_ms"],
                   single64_p99_ms=single["p99_ms"], single64_errors=single["errors"])
    finally:
        d.stop()
        out["db_bytes_after_intake"] = dir_db_bytes(work)
        shutil.rmtree(work, ignore_errors=True)
    return out


def fake_direct(args):
    """Requests/s of 500-URL POSTs straight to the fake (keep-alive): the drain's raw baseline."""
    work = tempfile.mkdtemp(prefix="ab-fake-", dir=args.workdir)
    ns = argparse.Namespace(rate=args.rate, max_urls=500, global_requests=0)
    fake = run_drain.Fake(work, run_drain.fake_config(ns)).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
        conn.connect()
        # Headers and body go in two writes: without this, delayed ACKs cost 40 ms a request.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        zone_name, zone_id = run_drain.ZONES[0]
        n = args.fake_requests
        started = time.monotonic()
        for i in range(n):
            body = json.dumps({"files": [f"https://{zone_name}/direct/{i}/{j}" for j in
                                         range(500)]})
            conn.request("POST", f"/client/v4/zones/{zone_id}/purge_cache", body,
                         {"Content-Type": "application/json",
                          "Authorization": f"Bearer {run_drain.TOKEN}"})
            r = conn.getresponse()
            r.read()
            if r.status == 429:
                time.sleep(0.05)
        elapsed = time.monotonic() - started
        conn.close()
        return dict(requests_per_second=round(n / elapsed, 1),
                    urls_per_second=round(n * 500 / elapsed, 1))
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


def drain(build, args):
    out_json = tempfile.mktemp(prefix="ab-drain-", suffix=".json", dir=args.workdir)
    cmd = [sys.executable, str(HERE / "run_drain.py"), "--purgeqd", str(Path(build) / "purgeqd"),
           "--items", str(args.drain_items), "--rate", str(args.rate), "--variants", "plain",
           "--keep", "--workdir", args.workdir, "--out", out_json]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    try:
        with open(out_json) as f:
            res = json.load(f)["results"][0]
    except (OSError, KeyError, IndexError, ValueError) as error:
        raise RuntimeError(f"run_drain failed: {error}\n{r.stderr[-2000:]}")
    finally:
        if os.path.exists(out_json):
            os.unlink(out_json)
    workdir = None
    for line in r.stderr.splitlines():
        if "kept " in line:
            workdir = line.split("kept ", 1)[1].split(" ")[0]
    db = None
    if workdir:
        db = sum(os.path.getsize(p) for p in glob.glob(os.path.join(workdir, "*", "queue.db*")))
        shutil.rmtree(workdir, ignore_errors=True)
    return dict(drain_seconds=res.get("drain_seconds"),
                urls_per_second=round(args.drain_items / res["drain_seconds"], 1)
                if res.get("drain_seconds") else None,
                requests=res.get("requests", {}).get("total"),
                http_429=res.get("http_429"), passed=res.get("pass"),
                fill_items_per_second=res.get("fill", {}).get("items_per_second"),
                db_bytes_after_drain=db, error=res.get("error"))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="label=build_dir")
    p.add_argument("--b", required=True, help="label=build_dir")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sqlite-seconds", type=float, default=3)
    p.add_argument("--bulk-requests", type=int, default=10, help="10,000-URL intents per client")
    p.add_argument("--single-seconds", type=float, default=5)
    p.add_argument("--drain-items", type=int, default=200_000)
    p.add_argument("--rate", type=int, default=100_000, help="the fake's URL rate (URLs/s)")
    p.add_argument("--fake-requests", type=int, default=200)
    p.add_argument("--skip", default="", help="comma separated: intake,drain")
    p.add_argument("--workdir", default="/var/tmp")
    p.add_argument("--out")
    args = p.parse_args()
    builds = []
    for spec in (args.a, args.b):
        label, _, path = spec.partition("=")
        builds.append((label, os.path.abspath(path)))
    tools = dict(loadgen=os.path.join(builds[0][1], "bench", "purgeq_loadgen"),
                 sqlite=os.path.join(builds[0][1], "bench", "purgeq_sqlite_rate"))
    skip = set(filter(None, args.skip.split(",")))
    rows = []
    for rnd in range(1, args.rounds + 1):
        order = builds if rnd % 2 else list(reversed(builds))
        for label, build in order:
            row = dict(round=rnd, build=label, load=os.getloadavg()[0])
            if "intake" not in skip:
                row["sqlite_before"] = sqlite_rate(tools["sqlite"], args.workdir,
                                                   args.sqlite_seconds)
                row.update(intake(build, args, tools))
                row["sqlite_after"] = sqlite_rate(tools["sqlite"], args.workdir,
                                                  args.sqlite_seconds)
                base = (row["sqlite_before"] * row["sqlite_after"]) ** 0.5
                row["sqlite_adjacent"] = round(base, 1)
                row["bulk_over_sqlite"] = round(row["bulk_items_per_second"] / base, 2)
                row["single64_over_sqlite"] = round(row["single64_per_second"] / base, 2)
            if "drain" not in skip:
                row["fake_direct"] = fake_direct(args)
                row.update(drain(build, args))
                if row.get("urls_per_second"):
                    row["drain_over_fake"] = round(
                        row["urls_per_second"] / row["fake_direct"]["urls_per_second"], 3)
            log(json.dumps(row))
            rows.append(row)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(dict(builds=dict(builds), rows=rows), f, indent=1)
    # Same-round ratios B/A, then their median.
    keys = ["bulk_items_per_second", "bulk_over_sqlite", "bulk_cpu_seconds",
            "single64_per_second", "single64_over_sqlite", "drain_seconds", "urls_per_second",
            "drain_over_fake", "requests", "fill_items_per_second", "db_bytes_after_drain",
            "db_bytes_after_intake"]
    (la, _), (lb, _) = builds
    print(f"| measure | {la} (median) | {lb} (median) | {lb}/{la} per round | median |")
    print("| --- | --- | --- | --- | --- |")
    for k in keys:
        per = []
        va = [r[k] for r in rows if r["build"] == la and r.get(k) is not None]
        vb = [r[k] for r in rows if r["build"] == lb and r.get(k) is not None]
        for rnd in range(1, args.rounds + 1):
            a = [r.get(k) for r in rows if r["round"] == rnd and r["build"] == la]
            b = [r.get(k) for r in rows if r["round"] == rnd and r["build"] == lb]
            if a and b and a[0] and b[0]:
                per.append(b[0] / a[0])
        if not per:
            continue
        print(f"| {k} | {statistics.median(va):g} | {statistics.median(vb):g} | "
              f"{', '.join(f'{x:.3f}' for x in per)} | {statistics.median(per):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
