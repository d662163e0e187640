#!/usr/bin/env python3
"""Drain benchmark: how fast does purgeqd empty a large URL backlog against Cloudflare's URL rate?

A backlog of N unique URLs, spread evenly over three zones of one account, is stored first
without being sent (purgeqd points at an unreachable API base while it is filled), then purgeqd is
restarted against the fake Cloudflare API (tests/fake_cloudflare) and the drain is timed.

Acceptance criterion (per variant):
  * the drain takes at most 5 % longer than the fake's URL rate allows (N / R seconds);
  * URL requests <= 1.02 x ceil(N / max_urls);
  * zero 429s;
  * every submitted URL was purged.

Variants (fresh fake and daemon for each; --variants, comma separated):
  plain    the drain as is
  restart  SIGTERM purgeqd when --restart-at of the backlog is purged, start it again at once
  kill9    the same with SIGKILL (also added by --kill9)

Usage (Python 3 standard library only):
  python3 bench/run_drain.py --purgeqd build/purgeqd --items 1000000 \
      --out docs/bench-results/drain.json
  python3 bench/run_drain.py --purgeqd build/purgeqd --items 50000      # a quick run

Timing: T0 is taken just before the draining purgeqd is spawned, so its start-up (opening the
database, requeueing, READY) counts. T1 is the first poll at which GET /v1/status says nothing is
pending or in flight. The fake's request log gives the exact time of the last accepted purge
(its clock is CLOCK_MONOTONIC, shared with this process), reported as drain_seconds_fake.

The fake's buckets start full (url_burst tokens), so a client may legitimately finish
url_burst / R seconds sooner than N / R; both ideals are reported, the criterion uses N / R.
Cloudflare's API-wide budget (global_requests per 5 minutes) is disabled on both sides by
default (--global-requests 0): with 500-URL requests it, not the URL rate, would bound the
drain above ~2,000 URLs/s, and this benchmark measures URL pacing.

Output: a Markdown table on stdout, the JSON results with --out (exit status 0 only when every
variant passes). With --keep (or after an error) the temp dir stays: per variant purgeq.yaml,
purgeqd.log (each line stamped with seconds since the benchmark started), fake.log,
requests.tsv (the fake's request log, times relative to T0) and status.tsv (every status poll:
pending, in flight, the daemon's URL tokens, pauses).
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FAKE_SCRIPT = os.path.join(ROOT, "tests", "fake_cloudflare", "fake_cloudflare.py")

ACCOUNT = "bench"
TOKEN = "bench-token-0123456789"
ZONES = [
    ("drain-a.example", "da" * 16),
    ("drain-b.example", "db" * 16),
    ("drain-c.example", "dc" * 16),
]
UNREACHABLE_API = "http://127.0.0.1:9/client/v4"  # discard port: connection refused at once

RATIO_LIMIT = 1.05
REQUEST_LIMIT = 1.02


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The benchmark could not run (not a failed criterion)."""


def wait_until(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------
# The backlog: deterministic unique URLs, item k goes to zone k % 3.


def zone_count(items, zone_index):
    return len(range(zone_index, items, len(ZONES)))


def zone_urls(items, zone_index, start=0, stop=None):
    """The URLs of one zone, by position within that zone (start..stop)."""
    name = ZONES[zone_index][0]
    total = zone_count(items, zone_index)
    stop = total if stop is None else min(stop, total)
    for j in range(start, stop):
        k = zone_index + j * len(ZONES)
        yield f"https://www.{name}/drain/{k:09d}.html"


# ------------------------------------------------------------------------------------------
# HTTP over the daemon's Unix socket and to the fake.


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _exchange(conn, method, target, body=None):
    headers = {}
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, target, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


def unix_request(path, method, target, body=None, timeout=30):
    conn = UnixHTTPConnection(path, timeout=timeout)
    try:
        return _exchange(conn, method, target, body)
    finally:
        conn.close()


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET: records READY=1 and when."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.ready_at = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if self.ready_at is None and "READY=1" in data.decode(errors="replace").split("\n"):
                self.ready_at = time.monotonic()

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Fake:
    """tests/fake_cloudflare/fake_cloudflare.py as a subprocess."""

    def __init__(self, workdir, config):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, "fake.json")
        self.port_file = os.path.join(workdir, "fake.port")
        self.log_path = os.path.join(workdir, "fake.log")
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        self.proc = None
        self.port = None

    def start(self, timeout=20):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_SCRIPT, "--port", "0", "--config", self.config_path,
             "--port-file", self.port_file],
            stdout=self._log, stderr=subprocess.STDOUT)

        def port():
            if self.proc.poll() is not None:
                raise BenchError(f"fake exited with {self.proc.returncode}: {self.tail()}")
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                return int(text) if text else None
            except (OSError, ValueError):
                return None

        self.port = wait_until(port, timeout, "the fake's port file")
        wait_until(lambda: self.get("/_fake/health").get("ok"), timeout, "the fake's health")
        return self

    def _conn(self, timeout):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path, timeout=30):
        conn = self._conn(timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            raw = response.read()
            if response.status != 200:
                raise BenchError(f"fake GET {path}: {response.status} {raw[:200]!r}")
            return json.loads(raw)
        finally:
            conn.close()

    def tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


class Daemon:
    """One purgeqd on a temp dir. Its stderr is read by a thread that stamps each line with the
    benchmark's clock (seconds since the benchmark started), so the log shows when things
    happened."""

    def __init__(self, purgeqd, workdir, epoch):
        self.purgeqd = purgeqd
        self.workdir = workdir
        self.epoch = epoch
        self.socket_path = os.path.join(workdir, "purgeq.sock")
        self.db_path = os.path.join(workdir, "queue.db")
        self.config_path = os.path.join(workdir, "purgeq.yaml")
        self.log_path = os.path.join(workdir, "purgeqd.log")
        self.token_path = os.path.join(workdir, "bench.token")
        with open(self.token_path, "w") as f:
            f.write(TOKEN + "\n")
        self.proc = None
        self.notify = None
        self.reader = None
        self.starts = 0
        self.lines = []          # (t, start#, line) for warnings and worse
        self._lock = threading.Lock()

    def write_config(self, config):
        # YAML is a superset of JSON.
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)

    def start(self, phase, timeout=120):
        """Spawns purgeqd and waits for READY=1. Returns (spawned_at, ready_at) (monotonic).
        `phase` labels the log lines of this run of the process."""
        if self.notify:
            self.notify.close()
        self.starts += 1
        notify_path = os.path.join(self.workdir, f"notify-{self.starts}.sock")
        self.notify = NotifySocket(notify_path)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = notify_path
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        spawned = time.monotonic()
        self.proc = subprocess.Popen([self.purgeqd, "--config", self.config_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.reader = threading.Thread(target=self._read, args=(self.proc, self.starts, phase),
                                       daemon=True)
        self.reader.start()

        def ready():
            if self.proc.poll() is not None:
                raise BenchError(f"purgeqd exited with {self.proc.returncode} before READY; "
                                 f"log:\n{self.tail()}")
            return self.notify.ready_at

        ready_at = wait_until(ready, timeout, "purgeqd READY=1", interval=0.005)
        return spawned, ready_at

    def _read(self, proc, start_no, phase):
        with open(self.log_path, "a", errors="replace") as out:
            out.write(f"--- start #{start_no} ({phase}) at t={time.monotonic() - self.epoch:.3f}s\n")
            for raw in proc.stderr:
                t = time.monotonic() - self.epoch
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(f"{t:9.3f} {line}\n")
                out.flush()
                # <4> is warning, <3> error, ... (sd-daemon priority prefixes).
                if line[:3] in ("<0>", "<1>", "<2>", "<3>", "<4>") or not line.startswith("<"):
                    with self._lock:
                        if len(self.lines) < 10000:
                            self.lines.append(dict(t=round(t, 3), start=start_no, phase=phase,
                                                   line=line))

    def request(self, method, target, body=None, timeout=30):
        return unix_request(self.socket_path, method, target, body, timeout=timeout)

    def status(self, timeout=10):
        try:
            code, body = self.request("GET", "/v1/status", timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None
        return body if code == 200 and isinstance(body, dict) else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal_and_wait(self, sig, timeout=60):
        """Sends sig; returns (exit code, seconds until it exited)."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise BenchError(f"purgeqd did not exit within {timeout}s of signal {sig}")
        if self.reader:
            self.reader.join(timeout=5)
        return code, time.monotonic() - sent

    def warnings(self):
        with self._lock:
            return list(self.lines)

    def tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.reader:
            self.reader.join(timeout=5)
        if self.notify:
            self.notify.close()
            self.notify = None


# ------------------------------------------------------------------------------------------
# Configs


def fake_config(args):
    account = dict(name=ACCOUNT, token=TOKEN, plan="enterprise",
                   urls_per_second=args.rate, url_burst=max(args.rate, args.max_urls),
                   max_urls=args.max_urls)
    if args.global_requests:
        account.update(global_requests=args.global_requests, global_window_s=300)
    zones = [dict(id=zid, name=name, account=ACCOUNT) for name, zid in ZONES]
    # A 500-URL body is ~25 KB; keep the fake's 1 MiB default.
    return dict(accounts=[account], zones=zones)


def daemon_config(args, daemon, api_base, filling):
    limits = dict(urls_per_second=args.rate, max_urls_per_request=args.max_urls,
                  global_requests=args.global_requests)
    if args.max_in_flight:
        limits["max_in_flight"] = args.max_in_flight
    config = {
        "listen": {"socket": daemon.socket_path, "mode": "0600"},
        "storage": {"path": daemon.db_path},
        "cloudflare": {"api_base": api_base, "timeout": "30s"},
        "dry_run": False,
        # Filling: info, so that the failed send attempts (batch_sent) are visible in the log.
        "log": {"level": "info" if filling else args.log_level},
        "accounts": [dict(name=ACCOUNT, token_file=daemon.token_path, plan="enterprise",
                          limits=limits)],
        "zones": [dict(name=name, id=zid, account=ACCOUNT) for name, zid in ZONES],
        "batching": {"linger": args.linger},
        # Filling: after the first refused connection the account backs off for up to an hour,
        # so the fill does not keep recording sends (which a restart would pace from).
        "retry": ({"initial": "1h", "max": "1h", "give_up_after": "72h"} if filling else
                  {"initial": "1s", "max": "30s", "give_up_after": "72h"}),
    }
    return config


# ------------------------------------------------------------------------------------------
# Phases


def fill(daemon, args):
    """Submits the backlog in intents of --batch URLs from --fill-threads connections."""
    tasks = queue.Queue()
    for z in range(len(ZONES)):
        n = zone_count(args.items, z)
        for start in range(0, n, args.batch):
            tasks.put((z, start, min(start + args.batch, n)))
    accepted = [0]
    errors = []
    lock = threading.Lock()

    def worker():
        conn = UnixHTTPConnection(daemon.socket_path, timeout=120)
        try:
            while not errors:
                try:
                    z, start, stop = tasks.get_nowait()
                except queue.Empty:
                    return
                body = json.dumps({"files": list(zone_urls(args.items, z, start, stop)),
                                   "zone": ZONES[z][0]})
                for attempt in range(5):
                    try:
                        code, answer = _exchange(conn, "POST", "/v1/purge", body)
                    except (OSError, http.client.HTTPException) as error:
                        conn.close()
                        conn = UnixHTTPConnection(daemon.socket_path, timeout=120)
                        code, answer = None, repr(error)
                    if code == 202:
                        with lock:
                            accepted[0] += answer.get("items", stop - start)
                        break
                    if code not in (None, 503):
                        break
                    time.sleep(0.2 * (attempt + 1))
                else:
                    code = code or "connection error"
                if code != 202:
                    with lock:
                        errors.append(f"zone {ZONES[z][0]} items {start}..{stop}: {code} "
                                      f"{str(answer)[:300]}")
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.fill_threads)]
    for t in threads:
        t.start()
    deadline = started + args.fill_timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise BenchError(f"filling did not finish within {args.fill_timeout}s")
    if errors:
        raise BenchError("filling failed: " + "; ".join(errors[:3]))
    seconds = time.monotonic() - started
    if accepted[0] != args.items:
        raise BenchError(f"filling: {accepted[0]} items acknowledged, expected {args.items}")
    return seconds


def fetch_end_state(fake):
    stats = fake.get("/_fake/stats", timeout=120)
    log_entries = fake.get("/_fake/requests", timeout=600)
    purged = fake.get("/_fake/purged", timeout=600)
    return stats, log_entries, purged


def analyse_requests(entries, t0, cap):
    """Per-request facts from the fake's log (times relative to T0)."""
    files = [e for e in entries if e.get("kind") == "files"]
    accepted = [e for e in files if e.get("purged")]
    sizes = {}
    for e in accepted:
        sizes[e["count"]] = sizes.get(e["count"], 0) + 1
    full = sizes.get(cap, 0)
    partial = {str(k): v for k, v in sorted(sizes.items()) if k != cap}
    out = dict(files_requests=len(files), files_accepted=len(accepted), full_batches=full,
               partial_batches=partial)
    if accepted:
        arrivals = sorted(e["received"] for e in accepted)
        out["first_request_s"] = round(arrivals[0] - t0, 4)
        # URLs accepted per second of the drain (by arrival; second 0 starts at T0): shows
        # whether the pace holds while the backlog shrinks.
        profile = [0] * (int(arrivals[-1] - t0) + 1)
        for e in accepted:
            profile[max(0, int(e["received"] - t0))] += e["count"]
        out["urls_per_second_profile"] = profile
        out["last_request_s"] = round(max(e["time"] for e in accepted) - t0, 4)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        if gaps:
            worst = max(range(len(gaps)), key=lambda i: gaps[i])
            out["longest_gap_s"] = round(gaps[worst], 4)
            out["longest_gap_at_s"] = round(arrivals[worst] - t0, 4)
        # Achieved URL rate between the first and last arrival (the first request's URLs are
        # not counted: they arrived at the start of the interval).
        span = arrivals[-1] - arrivals[0]
        if span > 0:
            first = min(accepted, key=lambda e: e["received"])
            out["steady_urls_per_second"] = round(
                (sum(e["count"] for e in accepted) - first["count"]) / span, 1)
    return out


def write_timelines(workdir, t0, entries, samples):
    """requests.tsv (the fake's log, times relative to T0) and status.tsv (the polls), kept with
    --keep for a closer look."""
    zone_names = {zid: name for name, zid in ZONES}
    with open(os.path.join(workdir, "requests.tsv"), "w") as f:
        f.write("seq\treceived_s\tanswered_s\tzone\tcount\tstatus\trate_limited\tretry_after\n")
        for e in entries:
            f.write(f"{e['seq']}\t{e['received'] - t0:.4f}\t{e['time'] - t0:.4f}\t"
                    f"{zone_names.get(e['zone_id'], e['zone_id'])}\t{e['count']}\t"
                    f"{e['status']}\t{e['rate_limited'] or ''}\t{e['retry_after'] or ''}\n")
    with open(os.path.join(workdir, "status.tsv"), "w") as f:
        f.write("t_s\tpending\tin_flight_items\trequests_in_flight\turl_tokens\t"
                "rate_limited_for_ms\tbackoff_for_ms\tnext_dispatch_in_ms\n")
        for row in samples:
            f.write("\t".join("" if v is None else str(v) for v in row) + "\n")


def check_purged(purged, items):
    per_zone = {}
    missing_total = 0
    extra_total = 0
    repurged_total = 0
    for z, (name, zid) in enumerate(ZONES):
        got = purged.get(zid, {})
        missing = 0
        repurged = 0
        for url in zone_urls(items, z):
            times = got.get(url)
            if not times:
                missing += 1
            elif len(times) > 1:
                repurged += 1
        expected = zone_count(items, z)
        extra = len(got) - (expected - missing)
        per_zone[name] = dict(expected=expected, purged=len(got), missing=missing, extra=extra,
                              purged_more_than_once=repurged)
        missing_total += missing
        extra_total += extra
        repurged_total += repurged
    return dict(all_purged=missing_total == 0 and extra_total == 0, missing=missing_total,
                extra=extra_total, purged_more_than_once=repurged_total, per_zone=per_zone)


def run_variant(index, name, args, root_dir, epoch):
    workdir = os.path.join(root_dir, f"{index}-{name}")
    os.makedirs(workdir)
    result = dict(variant=name, items=args.items, rate=args.rate, max_urls=args.max_urls,
                  zones={zn: zone_count(args.items, z) for z, (zn, _) in enumerate(ZONES)},
                  workdir=workdir)
    fake = Fake(workdir, fake_config(args))
    daemon = Daemon(args.purgeqd, workdir, epoch)
    try:
        # 1. Fill while the API is unreachable, so nothing drains.
        daemon.write_config(daemon_config(args, daemon, UNREACHABLE_API, filling=True))
        daemon.start("fill", timeout=args.start_timeout)
        log(f"{name}: filling {args.items:,} URLs ({args.batch:,} per intent, "
            f"{args.fill_threads} threads)")
        fill_s = fill(daemon, args)
        status = wait_until(
            lambda: (lambda s: s if s and s["pending"] + s["in_flight_items"] == args.items
                     else None)(daemon.status()),
            60, "the filled backlog in GET /v1/status")
        result["fill"] = dict(seconds=round(fill_s, 3),
                              items_per_second=round(args.items / fill_s, 1),
                              pending=status["pending"], in_flight_items=status["in_flight_items"])
        code, took = daemon.signal_and_wait(signal.SIGTERM, timeout=args.stop_timeout)
        with open(daemon.log_path, errors="replace") as f:
            attempts = sum(1 for line in f if "event=batch_sent" in line)
        result["fill"].update(exit_code=code, stop_seconds=round(took, 3),
                              send_attempts_while_unreachable=attempts)
        log(f"{name}: filled in {fill_s:.1f}s ({args.items / fill_s:,.0f} URLs/s), "
            f"{attempts} refused send attempts")

        # 2. The fake, then purgeqd pointed at it. The fill's refused attempts are recorded as
        # sends; wait until the restored URL bucket would be full again, so that the drain
        # starts from the same full bucket as the fake's.
        fake.start(timeout=args.start_timeout)
        daemon.write_config(daemon_config(args, daemon, f"http://127.0.0.1:{fake.port}/client/v4",
                                          filling=False))
        settle = max(args.rate, args.max_urls) / args.rate + 0.2
        time.sleep(settle)

        # 3. Drain.
        t0 = time.monotonic()
        spawned, ready_at = daemon.start("drain", timeout=args.start_timeout)
        result["ready_s"] = round(ready_at - t0, 4)
        ideal = args.items / args.rate
        burst = max(args.rate, args.max_urls)
        ideal_burst = max(0.0, (args.items - burst) / args.rate)
        timeout = args.drain_timeout or max(120.0, 10 * ideal + 60)
        restart_kind = {"restart": signal.SIGTERM, "kill9": signal.SIGKILL}.get(name)
        restart = None
        log(f"{name}: draining (ideal {ideal:.2f}s, {ideal_burst:.2f}s with the initial burst)")
        t1 = None
        last_stats_at = 0.0
        stats = None
        polls = 0
        samples = []
        status = None
        deadline = t0 + timeout
        while True:
            now = time.monotonic()
            if now > deadline:
                raise BenchError(f"drain not finished after {timeout:.0f}s; status: "
                                 f"{json.dumps(status)[:800]}; log tail:\n{daemon.tail()}")
            if restart_kind is not None and restart is None and now - last_stats_at >= 0.05:
                stats = fake.get("/_fake/stats")
                last_stats_at = now
                if stats["purged_keys"] >= args.restart_at * args.items:
                    restart = dict(signal=signal.Signals(restart_kind).name,
                                   at_s=round(now - t0, 4), purged_keys=stats["purged_keys"],
                                   rate_limited_before=stats["rate_limited"],
                                   requests_before=stats["requests"])
                    log(f"{name}: {signal.Signals(restart_kind).name} at "
                        f"{stats['purged_keys']:,} purged ({now - t0:.2f}s)")
                    code, took = daemon.signal_and_wait(restart_kind, timeout=args.stop_timeout)
                    restart.update(exit_code=code, exit_seconds=round(took, 4))
                    restarted = time.monotonic()
                    spawned2, ready2 = daemon.start("drain after " + restart["signal"],
                                                    timeout=args.start_timeout)
                    restart.update(restarted_at_s=round(restarted - t0, 4),
                                   ready_after_restart_s=round(ready2 - restarted, 4),
                                   downtime_s=round(ready2 - now, 4))
                    continue
            if not daemon.alive():
                raise BenchError(f"purgeqd exited with {daemon.proc.returncode} during the "
                                 f"drain; log tail:\n{daemon.tail()}")
            status = daemon.status()
            polls += 1
            if status:
                acct = (status.get("accounts") or {}).get(ACCOUNT) or {}
                samples.append((round(time.monotonic() - t0, 4), status.get("pending"),
                                status.get("in_flight_items"), status.get("requests_in_flight"),
                                round(acct.get("url_tokens", 0.0), 1),
                                acct.get("rate_limited_for_ms"), acct.get("backoff_for_ms"),
                                status.get("next_dispatch_in_ms")))
            if status and status.get("pending") == 0 and status.get("in_flight_items") == 0:
                t1 = time.monotonic()
                break
            time.sleep(args.poll)
        drain_s = t1 - t0
        log(f"{name}: drained in {drain_s:.3f}s (ratio {drain_s / ideal:.3f})")

        # The fake's accepted count must have stopped growing.
        def settled():
            a = fake.get("/_fake/stats")
            time.sleep(0.5)
            b = fake.get("/_fake/stats")
            return b if a["requests"] == b["requests"] else None

        stats = wait_until(settled, 30, "the fake's request count to settle", interval=0)
        final_status = daemon.status() or {}
        code, took = daemon.signal_and_wait(signal.SIGTERM, timeout=args.stop_timeout)
        result["final_exit_code"] = code
        stats, entries, purged = fetch_end_state(fake)
        if restart is not None:
            restart["rate_limited_after"] = stats["rate_limited"] - restart["rate_limited_before"]
            after = [e for e in entries if e["received"] >= t0 + restart["restarted_at_s"]]
            if after:
                restart["first_request_after_restart_s"] = round(
                    min(e["received"] for e in after) - t0, 4)
                restart["gap_s"] = round(restart["first_request_after_restart_s"] -
                                         restart["at_s"], 4)
            result["restart"] = restart

        write_timelines(workdir, t0, entries, samples)
        cap = args.max_urls
        minimum = math.ceil(args.items / cap)
        minimum_zones = sum(math.ceil(zone_count(args.items, z) / cap)
                            for z in range(len(ZONES)))
        req = analyse_requests(entries, t0, cap)
        purge_check = check_purged(purged, args.items)
        files_requests = req["files_requests"]
        rate_limited = stats["rate_limited"]
        drain_fake = req.get("last_request_s")
        result.update(
            drain_seconds=round(drain_s, 4),
            drain_seconds_fake=drain_fake,
            ideal_seconds=round(ideal, 4),
            ideal_seconds_minus_burst=round(ideal_burst, 4),
            ratio=round(drain_s / ideal, 4),
            ratio_fake=round(drain_fake / ideal, 4) if drain_fake else None,
            ratio_vs_minus_burst=round(drain_s / ideal_burst, 4) if ideal_burst else None,
            requests=dict(total=stats["requests"], accepted=stats["accepted"],
                          files=files_requests, files_accepted=req["files_accepted"],
                          rate_limited=rate_limited, by_status=stats["by_status"],
                          faults=stats["faults"], contract_violations=stats["contract_violations"],
                          mixed_files=stats["mixed_files"], duplicates=stats["duplicates"],
                          max_in_flight=stats["max_in_flight"]),
            minimum=minimum,
            minimum_per_zone=minimum_zones,
            requests_per_minimum=round(files_requests / minimum, 4),
            requests_per_minimum_per_zone=round(files_requests / minimum_zones, 4),
            http_429=rate_limited,
            timeline=req,
            purged=purge_check,
            polls=polls,
            daemon_status_at_end={k: final_status.get(k) for k in
                                  ("pending", "in_flight_items", "accounts", "recent_errors")},
            daemon_warnings=daemon.warnings()[:200],
        )
        result["checks"] = dict(
            drain_within_5_percent=drain_s <= RATIO_LIMIT * ideal,
            requests_within_2_percent=files_requests <= REQUEST_LIMIT * minimum,
            no_429=rate_limited == 0,
            all_purged=purge_check["all_purged"],
            no_contract_violation=stats["contract_violations"] == 0,
        )
        result["pass"] = all(result["checks"].values())
        return result
    except BaseException as error:
        result["error"] = str(error)
        result["pass"] = False
        result["daemon_log_tail"] = daemon.tail(60)
        result["fake_log_tail"] = fake.tail(20)
        if isinstance(error, BenchError):
            log(f"{name}: ERROR {error}")
            return result
        raise
    finally:
        daemon.stop()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Output


def markdown(results, args):
    def f(value, digits=3):
        return "—" if value is None else f"{value:.{digits}f}"

    lines = [
        f"### Drain: {args.items:,} URLs over {len(ZONES)} zones, "
        f"{args.rate:,} URLs/s, {args.max_urls} per request",
        "",
        "| variant | drain s | ideal s (N/R) | ratio | ideal − burst s | ratio | last purge s "
        "| URL requests | min ⌈N/cap⌉ | min per zone | req/min | 429s | purged | restart gap s "
        "| pass |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | error: {r['error'][:120]} |" + " |" * 12 + " FAIL |")
            continue
        restart = r.get("restart") or {}
        purged = r["purged"]
        lines.append(
            f"| {r['variant']} | {f(r['drain_seconds'])} | {f(r['ideal_seconds'])} "
            f"| {f(r['ratio'])} | {f(r['ideal_seconds_minus_burst'])} "
            f"| {f(r['ratio_vs_minus_burst'])} | {f(r['drain_seconds_fake'])} "
            f"| {r['requests']['files']:,} | {r['minimum']:,} | {r['minimum_per_zone']:,} "
            f"| {f(r['requests_per_minimum'], 4)} | {r['http_429']} "
            f"| {'all' if purged['all_purged'] else str(purged['missing']) + ' missing'} "
            f"| {f(restart.get('gap_s'))} | {'PASS' if r['pass'] else 'FAIL'} |")
    lines.append("")
    lines.append(f"Criterion: drain ≤ {RATIO_LIMIT} × N/R, URL requests ≤ {REQUEST_LIMIT} × "
                 "⌈N/cap⌉, no 429, every URL purged. Drain time runs from spawning the draining "
                 "purgeqd to the first status poll with nothing pending or in flight; "
                 "\"last purge\" is the fake's time of the last accepted request.")
    for r in results:
        if "error" in r:
            continue
        failed = [k for k, v in r["checks"].items() if not v]
        timeline = r["timeline"]
        notes = [f"ready {f(r['ready_s'])}s", f"first request {f(timeline.get('first_request_s'))}s",
                 f"steady {timeline.get('steady_urls_per_second', 0):,.0f} URLs/s",
                 f"longest gap {f(timeline.get('longest_gap_s'))}s at "
                 f"{f(timeline.get('longest_gap_at_s'))}s",
                 f"partial batches {timeline['partial_batches'] or 'none'}",
                 "URLs/s per second of the drain " +
                 (_profile_text(timeline.get("urls_per_second_profile") or [])),
                 f"fill {r['fill']['items_per_second']:,.0f} URLs/s"]
        if r.get("restart"):
            rs = r["restart"]
            notes.append(f"{rs['signal']} at {f(rs['at_s'])}s, back READY after "
                         f"{f(rs['downtime_s'])}s, 429s after restart {rs['rate_limited_after']}")
        lines.append(f"- {r['variant']}: " + "; ".join(notes) +
                     (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)


def _profile_text(profile):
    if len(profile) <= 12:
        return "[" + ", ".join(f"{v:,}" for v in profile) + "]"
    third = len(profile) // 3
    parts = [profile[:third], profile[third:2 * third], profile[2 * third:-1]]
    return ("first/middle/last third average " +
            "/".join(f"{sum(p) / max(1, len(p)):,.0f}" for p in parts))


def git_describe():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return dict(commit=head or None, dirty=bool(dirty))
    except (OSError, subprocess.SubprocessError):
        return dict(commit=None, dirty=None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--purgeqd", default=os.environ.get("PURGEQD",
                                                            os.path.join(ROOT, "build", "purgeqd")))
    parser.add_argument("--items", type=int, default=1_000_000, help="unique URLs (N)")
    parser.add_argument("--rate", type=int, default=20000, help="urls_per_second (R)")
    parser.add_argument("--max-urls", type=int, default=500, help="URLs per request (cap)")
    parser.add_argument("--global-requests", type=int, default=0,
                        help="global requests per 5 minutes on both sides (0: off)")
    parser.add_argument("--max-in-flight", type=int, default=None,
                        help="daemon's max_in_flight (default: the daemon's default)")
    parser.add_argument("--linger", default="200ms")
    parser.add_argument("--log-level", default="warning", help="purgeqd log level while draining")
    parser.add_argument("--variants", default="plain,restart",
                        help="comma separated: plain, restart (SIGTERM), kill9 (SIGKILL)")
    parser.add_argument("--restart-at", type=float, default=0.5,
                        help="fraction of the backlog purged when the daemon is restarted")
    parser.add_argument("--kill9", action="store_true", help="add the kill9 variant")
    parser.add_argument("--batch", type=int, default=10000, help="URLs per intent while filling")
    parser.add_argument("--fill-threads", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.02, help="status poll interval, seconds")
    parser.add_argument("--workdir", default="/var/tmp",
                        help="parent of the temp dir (same disk as the checkout)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--out", help="write the JSON results here")
    parser.add_argument("--start-timeout", type=float, default=120)
    parser.add_argument("--stop-timeout", type=float, default=60)
    parser.add_argument("--fill-timeout", type=float, default=3600)
    parser.add_argument("--drain-timeout", type=float, default=None,
                        help="default: 10 x ideal + 60 s (at least 120 s)")
    args = parser.parse_args(argv)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.kill9 and "kill9" not in variants:
        variants.append("kill9")
    unknown = [v for v in variants if v not in ("plain", "restart", "kill9")]
    if unknown or not variants:
        parser.error(f"unknown variant(s) {unknown}; use plain, restart, kill9")
    if not (0 < args.restart_at < 1):
        parser.error("--restart-at must be between 0 and 1")
    if args.items < 1 or args.rate < 1 or args.max_urls < 1 or args.batch < 1:
        parser.error("--items, --rate, --max-urls and --batch must be positive")
    args.purgeqd = os.path.abspath(args.purgeqd)
    if not os.access(args.purgeqd, os.X_OK):
        parser.error(f"purgeqd not found or not executable: {args.purgeqd}")

    os.makedirs(args.workdir, exist_ok=True)
    root_dir = tempfile.mkdtemp(prefix="purgeq-drain-", dir=args.workdir)
    epoch = time.monotonic()
    results = []
    try:
        for index, name in enumerate(variants, 1):
            results.append(run_variant(index, name, args, root_dir, epoch))
    finally:
        failed_run = any("error" in r for r in results) or len(results) < len(variants)
        if args.keep or failed_run:
            log(f"kept {root_dir} (logs, databases)")
        else:
            shutil.rmtree(root_dir, ignore_errors=True)
            for r in results:
                r.pop("workdir", None)

    report = dict(
        benchmark="drain",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        host=dict(cpus=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
                  system=platform.platform()),
        git=git_describe(),
        purgeqd=dict(path=args.purgeqd, built=datetime.datetime.fromtimestamp(
            os.path.getmtime(args.purgeqd), datetime.timezone.utc).isoformat(timespec="seconds")),
        parameters=dict(items=args.items, rate=args.rate, max_urls=args.max_urls,
                        url_burst=max(args.rate, args.max_urls), zones=[z for z, _ in ZONES],
                        global_requests=args.global_requests, max_in_flight=args.max_in_flight,
                        linger=args.linger, restart_at=args.restart_at, batch=args.batch,
                        fill_threads=args.fill_threads, variants=variants),
        criterion=dict(ratio_max=RATIO_LIMIT, requests_per_minimum_max=REQUEST_LIMIT,
                       http_429=0),
        results=results,
        passed=all(r.get("pass") for r in results),
    )
    summary = markdown(results, args)
    report["summary_markdown"] = summary
    print(summary)
    if args.out:
        out_dir = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.out)
        log(f"wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
