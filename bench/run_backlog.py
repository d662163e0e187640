#!/usr/bin/env python3
"""Backlog benchmark for purgeqd: intake, memory, idle CPU, latency and restart vs. queue size.

    python3 bench/run_backlog.py --build build --sizes 100000,1000000,10000000 \
        --out docs/bench-results/backlog.json

Builds (unless --no-build) and uses purgeqd, purgeq_loadgen and purgeq_sqlite_rate from --build.
Every daemon runs in a fresh temporary directory (default under /var/tmp, which should be on the
same disk as the checkout) with an unreachable upstream (http://127.0.0.1:9), dry_run false and an
account token, so everything submitted stays queued.

Once, at the start:
  * the raw SQLite commit rate (WAL, synchronous=FULL, one row per transaction) in that directory;
  * intake with an EMPTY queue (a fresh daemon per run) at 1/8/32/64 clients, one URL per POST;
  * bulk intake: 2 clients x 20 requests x 10,000 URLs;
  * the raw SQLite rate again, as a check of how much the disk's speed moved meanwhile.
Every intake run (empty queue or backlog) is framed by short raw SQLite runs (3 s before and
after, --paired-sqlite-seconds), so its ratio to the raw rate can also be read against an adjacent
baseline: on this shared machine fsync flips between ~0.15 ms and ~4 ms regimes within minutes
(6,000 vs. 270 commits/s), and a run whose frame disagrees is flagged.
For each backlog size N (a fresh daemon each):
  * fill N unique URLs over three zones (bulk POSTs), then RSS after filling and after 10 s idle;
  * CPU used by the idle daemon over 20 s (and its context switches: does it sleep?);
  * latency of a single-URL submission (1 client, 5 s) and of GET /v1/status (200 requests);
  * at the 1M step (--backlog-intake-size): intake again at 64 (and 1/8/32) clients;
  * restart: SIGTERM, start again, time until /healthz answers 200, peak RSS (VmHWM) then and
    10 s later, and the queue depth after restart (nothing lost).
All results go to --out (rewritten after every step, so a run cut short keeps what it measured);
a Markdown summary with the ratios that matter is printed at the end. The machine is shared and
noisy: read the ratios between numbers of the same run, not the absolute values.

Python 3 standard library only. Every subprocess and wait has a timeout; the daemon is always
killed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNREACHABLE_API = "http://127.0.0.1:9/client/v4"  # nothing listens on the discard port
TOKEN_ENV = "PURGEQ_BENCH_TOKEN"
ACCOUNT = "bench"
# Three zones on one enterprise account; URLs are spread over their apex hosts.
ZONES = [
    ("bench-a.example.com", "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"),
    ("bench-b.example.com", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
    ("bench-c.example.com", "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"),
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------
# Talking to the daemon directly (readiness polls, status snapshots)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def http_get(sock_path: str, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_status(sock_path: str, timeout: float = 60.0) -> dict:
    status, body = http_get(sock_path, "/v1/status", timeout)
    if status != 200:
        raise BenchError(f"GET /v1/status answered {status}: {body[:300]!r}")
    return json.loads(body)


def queued_of(status: dict) -> int:
    return int(status.get("pending", 0)) + int(status.get("in_flight_items", 0))


# ------------------------------------------------------------------------------------------------
# /proc


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, ... in kB, and Threads."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    fields = text[text.rfind(")") + 2 :].split()  # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])  # fields 14 and 15


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches summed over the process's threads."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return total


def system_load() -> dict:
    """The machine's load when a measurement ends: it is shared, so this says how noisy it was."""
    out: dict = {}
    try:
        out["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    for kind in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{kind}", encoding="ascii") as f:
                some = f.readline().split()
            out[f"{kind}_pressure_avg10"] = float(some[1].split("=")[1])
        except (OSError, IndexError, ValueError):
            pass
    return out


def mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024.0, 1)


def dir_bytes(path: Path) -> int:
    total = 0
    for p in path.iterdir():
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


# ------------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """One purgeqd in its own directory; start/stop may be repeated on the same database."""

    def __init__(self, binary: Path, workdir: Path, max_pending: int, start_timeout: float):
        self.binary = binary
        self.workdir = workdir
        self.socket = str(workdir / "purgeq.sock")
        self.db = workdir / "queue.db"
        self.config = workdir / "purgeq.json"
        self.log_path = workdir / "purgeqd.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        config = {
            "listen": {"socket": self.socket, "mode": "0600"},
            "storage": {"path": str(self.db), "max_pending_items": int(max_pending)},
            "cloudflare": {"api_base": UNREACHABLE_API, "timeout": "5s"},
            "dry_run": False,
            "log": {"level": "warning"},
            "accounts": [{"name": ACCOUNT, "token_env": TOKEN_ENV, "plan": "enterprise"}],
            "zones": [{"name": name, "id": zid, "account": ACCOUNT} for name, zid in ZONES],
            "batching": {"linger": "200ms"},
            "retry": {"initial": "1s", "max": "5m", "give_up_after": "72h"},
        }
        # JSON is valid YAML.
        self.config.write_text(json.dumps(config, indent=2) + "\n")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")}
        self.env[TOKEN_ENV] = "bench-token-not-a-real-one"

    def check_config(self) -> None:
        r = subprocess.run([str(self.binary), "--config", str(self.config), "--check-config"],
                           capture_output=True, text=True, timeout=30, env=self.env)
        if r.returncode != 0:
            raise BenchError(f"purgeqd --check-config failed:\n{r.stdout}{r.stderr}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> float:
        """Starts purgeqd and returns the seconds from spawn until GET /healthz answers 200."""
        if self.proc is not None and self.proc.poll() is None:
            raise BenchError("purgeqd is already running")
        self._log_file = open(self.log_path, "ab")
        spawned = time.monotonic()
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config)], cwd=self.workdir, env=self.env,
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = spawned + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"purgeqd exited with {self.proc.returncode} while starting:\n"
                                 + self.log_tail())
            try:
                status, _ = http_get(self.socket, "/healthz", timeout=2.0)
                if status == 200:
                    return time.monotonic() - spawned
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"purgeqd not healthy after {self.start_timeout:.0f} s:\n"
                                 + self.log_tail())
            time.sleep(0.01)

    def stop(self, timeout: float = 120.0) -> float:
        """SIGTERM, wait (then SIGKILL); returns the seconds it took to exit."""
        if self.proc is None:
            return 0.0
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"purgeqd did not exit {timeout:.0f} s after SIGTERM: killing it")
                self.proc.kill()
                self.proc.wait(timeout=30)
        elapsed = time.monotonic() - started
        if self.proc.returncode not in (0, -signal.SIGTERM):
            log(f"purgeqd exited with {self.proc.returncode}:\n{self.log_tail()}")
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return elapsed

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def log_events(self) -> dict:
        """Counts of each logged event (`<prio>event=NAME ...`), with its priority and first line."""
        events: dict[str, dict] = {}
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return events
        for line in text.splitlines():
            m = re.match(r"^<(\d)>event=(\S+)", line)
            name, prio = (m.group(2), int(m.group(1))) if m else ("(other)", None)
            e = events.setdefault(name, {"count": 0, "priority": prio, "first": line[:300]})
            e["count"] += 1
        return events

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# ------------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.build = Path(args.build).resolve()
        self.out = Path(args.out).resolve()
        self.daemons: list[Daemon] = []
        self.workdirs: list[Path] = []
        self.results: dict = {
            "benchmark": "backlog",
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"host": platform.node(), "cpus": os.cpu_count(),
                        "kernel": platform.release()},
            "git_commit": self._git_commit(),
            "build_type": self._build_type(),
            "args": vars(args),
            "upstream": UNREACHABLE_API,
            "zones": [name for name, _ in ZONES],
            "once": {},
            "sizes": {},
        }

    # -- setup ----------------------------------------------------------------------------------

    def _git_commit(self) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                               text=True, timeout=10)
            return r.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    def _build_type(self) -> str | None:
        try:
            for line in (self.build / "CMakeCache.txt").read_text().splitlines():
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1]
        except OSError:
            pass
        return None

    def build_binaries(self) -> None:
        if not (self.build / "CMakeCache.txt").exists():
            log(f"configuring {self.build}")
            subprocess.run(["cmake", "-S", str(REPO), "-B", str(self.build), "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True, timeout=600)
            self.results["build_type"] = self._build_type()
        log("building purgeqd purgeq_loadgen purgeq_sqlite_rate")
        subprocess.run(["cmake", "--build", str(self.build), "--target", "purgeqd",
                        "purgeq_loadgen", "purgeq_sqlite_rate"], check=True, timeout=3600)

    def binary(self, name: str) -> Path:
        for candidate in (self.build / name, self.build / "bench" / name):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise BenchError(f"{name} not found in {self.build} or {self.build / 'bench'}")

    def tmp_base(self) -> Path:
        base = Path(self.args.tmp_base)
        base.mkdir(parents=True, exist_ok=True)
        if os.stat(base).st_dev != os.stat(REPO).st_dev:
            log(f"warning: {base} is not on the same filesystem as {REPO}; pass --tmp-base to "
                "choose a directory on the checkout's disk")
        return base

    def new_workdir(self, label: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"purgeq-bench-{label}-", dir=self.tmp_base()))
        self.workdirs.append(path)
        return path

    def drop_workdir(self, path: Path) -> None:
        if not self.args.keep:
            shutil.rmtree(path, ignore_errors=True)

    def new_daemon(self, label: str, max_pending: int) -> Daemon:
        d = Daemon(self.purgeqd, self.new_workdir(label), max_pending, self.args.start_timeout)
        self.daemons.append(d)
        return d

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(self.out.suffix + ".tmp")
        tmp.write_text(json.dumps(self.results, indent=2) + "\n")
        tmp.replace(self.out)

    # -- tools ----------------------------------------------------------------------------------

    def loadgen(self, argv: list, timeout: float) -> dict:
        cmd = [str(self.loadgen_bin)] + [str(a) for a in argv]
        # stderr (progress, the first error) goes straight to ours, so a long fill shows progress.
        sys.stderr.flush()
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from e
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise BenchError(f"no result from {' '.join(cmd)} (exit {r.returncode})")
        result = json.loads(lines[-1])
        result["exit_code"] = r.returncode
        result["system"] = system_load()
        if r.returncode != 0:
            log(f"  loadgen exit {r.returncode}: {result.get('errors')} errors")
        return result

    def single(self, d: Daemon, clients: int, seconds: float) -> dict:
        r = self.loadgen(["single", "--socket", d.socket, "--clients", clients, "--seconds",
                          seconds, "--host", ZONES[0][0]], timeout=seconds + 120)
        log(f"  single x{clients}: {r['per_second']:.0f}/s p50 {r['p50_ms']:.2f} ms "
            f"p99 {r['p99_ms']:.2f} ms errors {r['errors']}")
        return r

    def get(self, d: Daemon, path: str, count: int) -> dict:
        r = self.loadgen(["get", "--socket", d.socket, "--path", path, "--count", count],
                         timeout=60 + count * 1.0)
        log(f"  GET {path} x{count}: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms "
            f"({r['body_bytes']} bytes) errors {r['errors']}")
        return r

    def fill(self, d: Daemon, items: int) -> dict:
        # Generous: ~2,000 items/s at worst, plus five minutes.
        timeout = 300 + items / 2000
        r = self.loadgen(["fill", "--socket", d.socket, "--items", items, "--batch",
                          self.args.fill_batch, "--clients", self.args.fill_clients, "--hosts",
                          ",".join(name for name, _ in ZONES), "--timeout", 300, "--progress"],
                         timeout=timeout)
        log(f"  fill {items}: {r['seconds']:.1f} s, {r['items_per_second']:.0f} items/s, "
            f"{r['retries']} retries, errors {r['errors']}")
        if r["stored"] != items:
            raise BenchError(f"fill stored {r['stored']} of {items} items")
        return r

    def sample(self, d: Daemon) -> dict:
        s = proc_status(d.pid)
        return {"rss_mib": mib(s.get("VmRSS")), "hwm_mib": mib(s.get("VmHWM")),
                "anon_mib": mib(s.get("RssAnon")), "threads": s.get("Threads")}

    def record_log(self, d: Daemon, where: dict) -> None:
        events = d.log_events()
        where["log_events"] = {k: v["count"] for k, v in events.items()}
        for name, e in events.items():
            if e["priority"] is not None and e["priority"] <= 3:
                log(f"  warning: purgeqd logged {e['count']} x {name}, first: {e['first']}")

    def idle_cpu(self, d: Daemon, seconds: float) -> dict:
        t0, c0, w0 = cpu_ticks(d.pid), context_switches(d.pid), time.monotonic()
        time.sleep(seconds)
        t1, c1, w1 = cpu_ticks(d.pid), context_switches(d.pid), time.monotonic()
        wall = w1 - w0
        r = {"seconds": round(wall, 2), "cpu_seconds": round((t1 - t0) / CLK_TCK, 3),
             "cpu_percent_of_one_core": round(100.0 * (t1 - t0) / CLK_TCK / wall, 2),
             "context_switches_per_second": round((c1 - c0) / wall, 1)}
        log(f"  idle CPU over {wall:.0f} s: {r['cpu_percent_of_one_core']:.2f} % of a core, "
            f"{r['context_switches_per_second']:.0f} context switches/s")
        return r

    # -- steps ----------------------------------------------------------------------------------

    def run_once(self) -> None:
        a = self.args
        once = self.results["once"]
        once["sqlite"] = self.sqlite_rate()
        self.save()

        once["intake_empty"] = {}
        for i, clients in enumerate(a.intake_clients):
            log(f"intake, empty queue, {clients} client(s) ({a.intake_seconds} s, fresh daemon)")
            d = self.new_daemon(f"empty{clients}", 50_000_000)
            d.check_config()
            d.start()
            try:
                if i == 0:
                    # The baseline for the idle CPU of a daemon with a backlog.
                    time.sleep(min(a.idle_seconds, 3))
                    once["idle_empty"] = {"sample": self.sample(d),
                                          "idle_cpu": self.idle_cpu(d, a.cpu_seconds)}
                once["intake_empty"][str(clients)] = self.intake(d, clients)
            finally:
                d.stop()
            self.record_log(d, once["intake_empty"][str(clients)])
            self.drop_workdir(d.workdir)
            self.save()

        log(f"bulk, empty queue: {a.bulk_clients} clients x {a.bulk_requests} requests x "
            f"{a.bulk_items} URLs (fresh daemon)")
        d = self.new_daemon("bulk", 50_000_000)
        d.start()
        try:
            total = a.bulk_clients * a.bulk_requests * a.bulk_items
            r = self.loadgen(["bulk", "--socket", d.socket, "--clients", a.bulk_clients,
                              "--requests", a.bulk_requests, "--items", a.bulk_items, "--host",
                              ZONES[1][0]], timeout=300 + total / 2000)
            log(f"  bulk: {r['items_per_second']:.0f} items/s, p50 {r['p50_ms']:.1f} ms "
                f"p99 {r['p99_ms']:.1f} ms errors {r['errors']}")
            once["bulk_empty"] = r
        finally:
            d.stop()
        self.record_log(d, once["bulk_empty"])
        self.drop_workdir(d.workdir)
        # Again, to show how much the disk's speed moved meanwhile (the machine is shared).
        once["sqlite_after"] = self.sqlite_rate()
        self.save()

    def sqlite_rate(self, seconds: float | None = None) -> dict:
        seconds = self.args.sqlite_seconds if seconds is None else seconds
        base = self.new_workdir("sqlite")
        log(f"raw SQLite commit rate ({seconds} s in {base})")
        r = subprocess.run([str(self.sqlite_rate_bin), "--dir", str(base), "--seconds",
                            str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
        if r.returncode != 0:
            raise BenchError(f"purgeq_sqlite_rate failed:\n{r.stderr}")
        result = json.loads(r.stdout.strip().splitlines()[-1])
        result["system"] = system_load()
        log(f"  {result['commits_per_second']:.0f} commits/s (p50 {result['p50_ms']:.2f} ms, "
            f"p99 {result['p99_ms']:.2f} ms)")
        self.drop_workdir(base)
        return result

    def intake(self, d: Daemon, clients: int) -> dict:
        """An intake run, with the raw SQLite rate measured just before it on the same disk: the
        disk's speed moves a lot on a shared machine, so ratios to the adjacent baseline are
        steadier than ratios to one measured minutes earlier."""
        a = self.args
        paired = a.paired_sqlite_seconds > 0
        before = self.sqlite_rate(a.paired_sqlite_seconds) if paired else None
        r = self.single(d, clients, a.intake_seconds)
        if paired:
            after = self.sqlite_rate(a.paired_sqlite_seconds)
            b, c = before["commits_per_second"], after["commits_per_second"]
            r["raw_sqlite_just_before"] = b
            r["raw_sqlite_just_after"] = c
            # The geometric mean; "steady" when the disk stayed in one regime around the run.
            r["raw_sqlite_adjacent"] = round((b * c) ** 0.5, 1)
            r["disk_steady"] = min(b, c) > 0 and max(b, c) / min(b, c) < 1.5
            if not r["disk_steady"]:
                log(f"  note: the disk's speed moved during this run ({b:.0f} -> {c:.0f} commits/s)")
        return r

    def run_size(self, n: int, backlog_intake: bool) -> None:
        a = self.args
        res: dict = {"items": n}
        self.results["sizes"][str(n)] = res
        # ~270 bytes per queued URL on disk (database and WAL); refuse early rather than fill a disk.
        free = shutil.disk_usage(self.tmp_base()).free
        if free < n * 600 + (1 << 30):
            raise BenchError(f"{free >> 20} MiB free under {self.tmp_base()}: too little for a "
                             f"{n:,} backlog (want ~{(n * 600) >> 20} MiB + 1 GiB)")
        d = self.new_daemon(f"n{n}", max(2 * n, n + 5_000_000))
        d.check_config()
        res["first_start_seconds"] = round(d.start(), 3)
        log(f"backlog {n:,}: daemon pid {d.pid} in {d.workdir}")

        res["fill"] = self.fill(d, n)
        status = get_status(d.socket)
        res["queued_after_fill"] = queued_of(status)
        if res["queued_after_fill"] != n:
            log(f"  warning: {res['queued_after_fill']} queued after filling {n}")
        res["db_bytes_after_fill"] = dir_bytes(d.workdir)
        res["after_fill"] = self.sample(d)
        log(f"  RSS after fill {res['after_fill']['rss_mib']} MiB "
            f"(peak {res['after_fill']['hwm_mib']} MiB), files {res['db_bytes_after_fill'] >> 20} MiB")
        self.save()

        time.sleep(a.idle_seconds)
        res["after_idle"] = self.sample(d)
        log(f"  RSS after {a.idle_seconds} s idle {res['after_idle']['rss_mib']} MiB")
        res["idle_cpu"] = self.idle_cpu(d, a.cpu_seconds)
        res["single_1"] = self.single(d, 1, a.single_seconds)
        res["status_get"] = self.get(d, "/v1/status", a.status_count)
        self.save()

        if backlog_intake:
            res["intake_backlog"] = {}
            for clients in a.backlog_intake_clients:
                log(f"  intake with a {n:,} backlog, {clients} client(s) ({a.intake_seconds} s)")
                res["intake_backlog"][str(clients)] = self.intake(d, clients)
                self.save()

        expected = queued_of(get_status(d.socket))
        res["queued_before_restart"] = expected
        res["stop_seconds"] = round(d.stop(timeout=a.restart_timeout), 3)
        log(f"  stopped in {res['stop_seconds']:.2f} s; restarting")
        ready = d.start()
        at_ready = self.sample(d)
        res["restart"] = {"seconds_to_healthy": round(ready, 3), "at_ready": at_ready}
        log(f"  healthy {ready:.2f} s after restart, peak RSS {at_ready['hwm_mib']} MiB")
        time.sleep(a.after_restart_seconds)
        later = self.sample(d)
        res["restart"]["after_seconds"] = a.after_restart_seconds
        res["restart"]["later"] = later
        res["restart"]["queued"] = queued_of(get_status(d.socket))
        if res["restart"]["queued"] != expected:
            log(f"  WARNING: {res['restart']['queued']} queued after restart, {expected} before")
        log(f"  {a.after_restart_seconds} s later: RSS {later['rss_mib']} MiB, peak "
            f"{later['hwm_mib']} MiB, {res['restart']['queued']:,} queued")
        d.stop(timeout=a.restart_timeout)
        self.record_log(d, res)
        self.drop_workdir(d.workdir)
        self.save()

    def run(self) -> None:
        a = self.args
        if not a.no_build:
            self.build_binaries()
        self.purgeqd = self.binary("purgeqd")
        self.loadgen_bin = self.binary("purgeq_loadgen")
        self.sqlite_rate_bin = self.binary("purgeq_sqlite_rate")
        self.save()
        if not a.skip_once:
            self.run_once()
        sizes = sorted(a.sizes)
        # Backlog intake at the 1M step, or the largest size below it (small test runs).
        at = [s for s in sizes if s <= a.backlog_intake_size]
        intake_size = at[-1] if at else (sizes[0] if sizes else None)
        self.results["backlog_intake_size"] = intake_size
        for n in sizes:
            self.run_size(n, n == intake_size and bool(a.backlog_intake_clients))
        self.results["finished_at"] = datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec="seconds")
        self.save()

    def cleanup(self) -> None:
        for d in self.daemons:
            d.kill()
        for w in self.workdirs:
            self.drop_workdir(w)
        if self.args.keep and self.workdirs:
            log("kept: " + " ".join(str(w) for w in self.workdirs))


# ------------------------------------------------------------------------------------------------
# Summary


def ratio(a, b) -> float | None:
    try:
        return None if a is None or b in (None, 0) else a / b
    except TypeError:
        return None


def fmt(v, digits: int = 1, suffix: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}{suffix}"
    if isinstance(v, int):
        return f"{v:,}{suffix}"
    return str(v)


def get_in(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def markdown(results: dict) -> str:
    once = results.get("once", {})
    sizes = results.get("sizes", {})
    lines: list[str] = []
    sqlite_rate = get_in(once, "sqlite", "commits_per_second")
    empty = once.get("intake_empty", {})
    bulk = once.get("bulk_empty", {})

    lines += ["### Intake (empty queue)", "",
              "| measure | value |", "| --- | --- |",
              f"| raw SQLite commits/s (WAL, synchronous=FULL, 1 row per transaction) | "
              f"{fmt(sqlite_rate, 0)} |"]
    for c, r in sorted(empty.items(), key=lambda kv: int(kv[0])):
        adjacent = ""
        if r.get("raw_sqlite_adjacent"):
            adjacent = (f" [{fmt(r['raw_sqlite_just_before'], 0)} → "
                        f"{fmt(r['raw_sqlite_just_after'], 0)}]")
        lines.append(f"| single-URL intents/s, {c} client{'' if c == '1' else 's'} (p50 / p99 ms)"
                     f"{' [raw SQLite commits/s just before → after]' if adjacent else ''} | "
                     f"{fmt(r['per_second'], 0)} ({fmt(r['p50_ms'], 2)} / {fmt(r['p99_ms'], 2)})"
                     f"{adjacent} |")
    sqlite_after = get_in(once, "sqlite_after", "commits_per_second")
    if sqlite_after is not None:
        lines.append(f"| raw SQLite commits/s again after the intake runs (noise check) | "
                     f"{fmt(sqlite_after, 0)} |")
    idle_empty = get_in(once, "idle_empty", "idle_cpu")
    if idle_empty:
        lines.append(f"| idle CPU, empty queue: % of one core (context switches/s) | "
                     f"{fmt(idle_empty['cpu_percent_of_one_core'], 2)} "
                     f"({fmt(idle_empty['context_switches_per_second'], 0)}) |")
    if bulk:
        lines.append(f"| bulk URLs/s, {bulk['clients']} clients × {bulk['items_per_request']:,} URLs "
                     f"(p50 / p99 ms) | {fmt(bulk['items_per_second'], 0)} "
                     f"({fmt(bulk['p50_ms'], 1)} / {fmt(bulk['p99_ms'], 1)}) |")
    lines.append("")

    if sizes:
        lines += ["### Backlog", "",
                  "| backlog | fill s (items/s) | RSS after fill / idle MiB | idle CPU % core "
                  "(switches/s) | submit p50 / p99 ms | status p50 / p99 ms | restart to healthy s "
                  "| peak RSS at healthy / +10 s MiB | RSS after restart MiB | queued after restart |",
                  "| " + " | ".join(["---"] * 10) + " |"]
        for n, r in sorted(sizes.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {int(n):,} "
                f"| {fmt(get_in(r, 'fill', 'seconds'), 1)} ({fmt(get_in(r, 'fill', 'items_per_second'), 0)}) "
                f"| {fmt(get_in(r, 'after_fill', 'rss_mib'))} / {fmt(get_in(r, 'after_idle', 'rss_mib'))} "
                f"| {fmt(get_in(r, 'idle_cpu', 'cpu_percent_of_one_core'), 2)} "
                f"({fmt(get_in(r, 'idle_cpu', 'context_switches_per_second'), 0)}) "
                f"| {fmt(get_in(r, 'single_1', 'p50_ms'), 2)} / {fmt(get_in(r, 'single_1', 'p99_ms'), 2)} "
                f"| {fmt(get_in(r, 'status_get', 'p50_ms'), 2)} / {fmt(get_in(r, 'status_get', 'p99_ms'), 2)} "
                f"| {fmt(get_in(r, 'restart', 'seconds_to_healthy'), 2)} "
                f"| {fmt(get_in(r, 'restart', 'at_ready', 'hwm_mib'))} / "
                f"{fmt(get_in(r, 'restart', 'later', 'hwm_mib'))} "
                f"| {fmt(get_in(r, 'restart', 'later', 'rss_mib'))} "
                f"| {fmt(get_in(r, 'restart', 'queued'))} |")
        lines.append("")

    # Ratios between numbers of this one run.
    rows: list[tuple[str, float | None, str]] = []
    e = {int(c): r for c, r in empty.items()}
    top = max(e) if e else None
    if top is not None:
        rows.append((f"intake ({top} clients) / raw SQLite commits per second",
                     ratio(e[top]["per_second"], sqlite_rate),
                     "> 1: group commit acknowledges more intents than one fsync each allows"))
    def steadiness(r: dict) -> str:
        return "" if r.get("disk_steady", True) else " (disk speed moved during the run)"

    if top is not None and e[top].get("raw_sqlite_adjacent"):
        rows.append((f"intake ({top} clients) / raw SQLite commits per second measured around it",
                     ratio(e[top]["per_second"], e[top]["raw_sqlite_adjacent"]),
                     "the same against the adjacent baseline" + steadiness(e[top])))
    if 1 in e:
        rows.append(("intake (1 client) / raw SQLite commits per second",
                     ratio(e[1]["per_second"], sqlite_rate),
                     "≈ 1: one fsync per intent, little overhead besides"))
    if top is not None and 1 in e and top != 1:
        rows.append((f"intake {top} clients / 1 client", ratio(e[top]["per_second"],
                                                            e[1]["per_second"]),
                     "how well concurrent submitters share commits"))
    if bulk and top is not None:
        rows.append((f"bulk URLs/s / single-URL intents/s ({top} clients)",
                     ratio(bulk.get("items_per_second"), e[top]["per_second"]),
                     "what batching URLs into one intent buys"))
    if bulk and sqlite_rate:
        rows.append(("bulk URLs/s / raw SQLite commits per second",
                     ratio(bulk.get("items_per_second"), sqlite_rate), ""))
    if sqlite_after is not None:
        rows.append(("raw SQLite commits/s after / before the intake runs",
                     ratio(sqlite_after, sqlite_rate),
                     "noise check: far from 1 means the disk's speed moved during the run"))
    for n, r in sorted(sizes.items(), key=lambda kv: int(kv[0])):
        for c, br in sorted(r.get("intake_backlog", {}).items(), key=lambda kv: int(kv[0])):
            base = e.get(int(c))
            rows.append((f"intake with {int(n):,} backlog / empty queue ({c} client"
                         f"{'' if c == '1' else 's'})",
                         ratio(br["per_second"], base["per_second"] if base else None),
                         "≈ 1: the backlog does not slow intake"))
            if base and base.get("raw_sqlite_adjacent") and br.get("raw_sqlite_adjacent"):
                rows.append((f"same, each over its adjacent raw SQLite rate ({c} client"
                             f"{'' if c == '1' else 's'})",
                             ratio(ratio(br["per_second"], br["raw_sqlite_adjacent"]),
                                   ratio(base["per_second"], base["raw_sqlite_adjacent"])),
                             "discounts the disk's drift, while fsync is the bound"
                             + steadiness(br) + steadiness(base)))
            if base:
                rows.append((f"intake p99 with {int(n):,} backlog / empty queue ({c} client"
                             f"{'' if c == '1' else 's'})",
                             ratio(br["p99_ms"], base["p99_ms"]), ""))
    ordered = sorted(sizes.items(), key=lambda kv: int(kv[0]))
    if ordered:
        n0, r0 = ordered[0]
        for n, r in ordered:
            if idle_empty:
                rows.append((f"idle CPU with {int(n):,} backlog − empty queue (% of a core)",
                             None if get_in(r, "idle_cpu", "cpu_percent_of_one_core") is None
                             else r["idle_cpu"]["cpu_percent_of_one_core"]
                             - idle_empty["cpu_percent_of_one_core"],
                             "≈ 0: a backlog that cannot be sent costs no CPU"))
            if 1 in e:
                rows.append((f"submit p50 with {int(n):,} backlog / empty queue (1 client)",
                             ratio(get_in(r, "single_1", "p50_ms"), e[1]["p50_ms"]), ""))
        for n, r in ordered[1:]:
            growth = int(n) / int(n0)
            note = f"backlog ×{growth:,.0f}"
            rows.append((f"RSS after fill, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "after_fill", "rss_mib"), get_in(r0, "after_fill", "rss_mib")),
                         note))
            rows.append((f"RSS after idle, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "after_idle", "rss_mib"), get_in(r0, "after_idle", "rss_mib")),
                         note))
            rows.append((f"peak RSS 10 s after restart, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "restart", "later", "hwm_mib"),
                               get_in(r0, "restart", "later", "hwm_mib")), note))
            rows.append((f"restart to healthy, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "restart", "seconds_to_healthy"),
                               get_in(r0, "restart", "seconds_to_healthy")), note))
            rows.append((f"GET /v1/status p50, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "status_get", "p50_ms"), get_in(r0, "status_get", "p50_ms")),
                         note))
            rows.append((f"fill items/s, {int(n):,} / {int(n0):,}",
                         ratio(get_in(r, "fill", "items_per_second"),
                               get_in(r0, "fill", "items_per_second")), note))
    if rows:
        lines += ["### Ratios (same run)", "", "| ratio | value | reading |", "| --- | --- | --- |"]
        for name, value, note in rows:
            lines.append(f"| {name} | {fmt(value, 2)} | {note} |")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from e
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("every value must be at least 1")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--build", required=True, help="CMake build directory")
    p.add_argument("--sizes", type=int_list, default=int_list("100000,1000000,10000000"),
                   help="backlog sizes (URLs)")
    p.add_argument("--out", default="docs/bench-results/backlog.json", help="results JSON")
    p.add_argument("--markdown", help="also write the Markdown summary to this file")
    p.add_argument("--tmp-base", default="/var/tmp",
                   help="where the temporary daemon directories go (same disk as the checkout)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directories")
    p.add_argument("--no-build", action="store_true", help="do not run cmake --build first")
    p.add_argument("--skip-once", action="store_true",
                   help="skip the raw SQLite, empty-queue intake and bulk measurements")
    p.add_argument("--sqlite-seconds", type=float, default=5)
    p.add_argument("--intake-seconds", type=float, default=10)
    p.add_argument("--intake-clients", type=int_list, default=int_list("1,8,32,64"))
    p.add_argument("--paired-sqlite-seconds", type=float, default=3,
                   help="raw SQLite rate measured just before each intake run (0: off)")
    p.add_argument("--bulk-clients", type=int, default=2)
    p.add_argument("--bulk-requests", type=int, default=20)
    p.add_argument("--bulk-items", type=int, default=10000)
    p.add_argument("--fill-batch", type=int, default=10000, help="URLs per fill POST")
    p.add_argument("--fill-clients", type=int, default=2)
    p.add_argument("--idle-seconds", type=float, default=10, help="idle wait before RSS sample")
    p.add_argument("--cpu-seconds", type=float, default=20, help="idle CPU window")
    p.add_argument("--single-seconds", type=float, default=5,
                   help="single-URL submission latency run (1 client)")
    p.add_argument("--status-count", type=int, default=200, help="GET /v1/status requests")
    p.add_argument("--backlog-intake-size", type=int, default=1_000_000,
                   help="measure intake again at this backlog (or the largest size below it)")
    p.add_argument("--backlog-intake-clients", type=lambda s: int_list(s) if s else [],
                   default=int_list("64,1,8,32"),
                   help="clients for the backlog intake runs, in order ('' to skip)")
    p.add_argument("--after-restart-seconds", type=float, default=10)
    p.add_argument("--start-timeout", type=float, default=900,
                   help="longest wait for /healthz after a start")
    p.add_argument("--restart-timeout", type=float, default=300,
                   help="longest wait for purgeqd to exit after SIGTERM")
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    bench = Bench(args)
    status = 0
    try:
        bench.run()
    except BenchError as e:
        log(f"FAILED: {e}")
        bench.results["error"] = str(e)
        status = 1
    except KeyboardInterrupt:
        log("interrupted")
        bench.results["error"] = "interrupted"
        status = 130
    except SystemExit as e:
        log(f"terminated by a signal (exit {e.code})")
        bench.results["error"] = f"terminated by a signal (exit {e.code})"
        raise
    finally:
        bench.cleanup()
        try:
            bench.save()
        except OSError as e:
            log(f"could not write {bench.out}: {e}")
    summary = markdown(bench.results)
    print(summary)
    if args.markdown:
        Path(args.markdown).write_text(summary + "\n")
    log(f"results: {bench.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
