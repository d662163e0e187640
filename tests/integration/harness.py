"""Test harness: runs the real purgeqd and purgeq binaries against the fake Cloudflare API.

Each test gets a temp dir holding the config, socket, database, token files and the daemon's log.
The daemon reports readiness on a NOTIFY_SOCKET the test owns (as systemd would).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fake_cloudflare"))

from fake_cloudflare import FakeCloudflare  # noqa: E402


def _binary(env_name, name):
    path = os.environ.get(env_name) or os.path.join(ROOT, "build", name)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"{name} not built at {path} (set {env_name})")
    return path


PURGEQD = _binary("PURGEQD", "purgeqd")
PURGEQ = _binary("PURGEQ", "purgeq")

ZONE_A = "0a" * 16
ZONE_B = "0b" * 16
ZONE_C = "0c" * 16


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def unix_request(path, method, target, body=None, timeout=30, headers=None):
    """One HTTP request over a Unix socket. Returns (status, parsed JSON or text)."""
    conn = UnixHTTPConnection(path, timeout=timeout)
    try:
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, target, body=data, headers=hdrs)
        response = conn.getresponse()
        raw = response.read().decode()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw
    finally:
        conn.close()


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []
        self._lock = threading.Lock()
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
            with self._lock:
                self.messages.append(data.decode())

    def seen(self, prefix):
        with self._lock:
            return [m for m in self.messages for line in m.split("\n") if line.startswith(prefix)]

    def wait_for(self, prefix, timeout=15.0, after=0):
        def found():
            with self._lock:
                for m in self.messages[after:]:
                    if any(line.startswith(prefix) for line in m.split("\n")):
                        return m
            return None

        return wait_until(found, timeout, what=f"notify {prefix!r}")

    def count(self):
        with self._lock:
            return len(self.messages)

    def close(self):
        self._stop = True
        self.sock.close()


def default_fake_config(**account_overrides):
    accounts = [
        dict(name="acct1", token="token-one", rate=50, burst=500, urls_per_second=3000,
             url_burst=3000, max_ops=100, max_urls=500),
        dict(name="acct2", token="token-two", rate=10, burst=50, urls_per_second=1500,
             url_burst=1500, max_ops=100, max_urls=100),
    ]
    for account in accounts:
        account.update(account_overrides.get(account["name"], {}))
    zones = [
        dict(id=ZONE_A, name="a.example", account="acct1", hosts=["a.example", "*.a.example"]),
        dict(id=ZONE_B, name="b.example", account="acct1", hosts=["b.example", "*.b.example"]),
        dict(id=ZONE_C, name="c.example", account="acct2", hosts=["c.example", "*.c.example"]),
    ]
    return dict(accounts=accounts, zones=zones)


class DaemonFixture:
    """A purgeqd process with its own temp dir, config and notify socket."""

    def __init__(self, test, fake=None, dry_run=False, extra=None, accounts=None, zones=None,
                 log_level="info", env=None):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="purgeq-it-")
        self.socket_path = os.path.join(self.dir, "purgeq.sock")
        self.db_path = os.path.join(self.dir, "queue.db")
        self.config_path = os.path.join(self.dir, "purgeq.yaml")
        self.log_path = os.path.join(self.dir, "purgeqd.log")
        self.notify = None
        self.proc = None
        self.env_extra = env or {}
        api_base = f"http://127.0.0.1:{fake.port}/client/v4" if fake else "http://127.0.0.1:9/client/v4"
        if accounts is None:
            accounts = [
                dict(name="acct1", token="token-one", plan="enterprise"),
                dict(name="acct2", token="token-two", plan="business",
                     limits=dict(requests_per_second=10, burst=50, urls_per_second=1500,
                                 max_urls_per_request=100)),
            ]
        if zones is None:
            zones = [
                dict(name="a.example", id=ZONE_A, account="acct1"),
                dict(name="b.example", id=ZONE_B, account="acct1"),
                dict(name="c.example", id=ZONE_C, account="acct2"),
            ]
        config_accounts = []
        for account in accounts:
            entry = {k: v for k, v in account.items() if k != "token"}
            if "token" in account:
                token_file = os.path.join(self.dir, f"{account['name']}.token")
                with open(token_file, "w") as f:
                    f.write(account["token"] + "\n")
                entry["token_file"] = token_file
            config_accounts.append(entry)
        self.config = {
            "listen": {"socket": self.socket_path, "mode": "0660"},
            "storage": {"path": self.db_path},
            "cloudflare": {"api_base": api_base, "timeout": "5s"},
            "dry_run": dry_run,
            "log": {"level": log_level},
            "accounts": config_accounts,
            "zones": zones,
            "batching": {"linger": "100ms"},
            "retry": {"initial": "100ms", "max": "2s", "give_up_after": "1h"},
        }
        for key, value in (extra or {}).items():
            if isinstance(value, dict) and isinstance(self.config.get(key), dict):
                self.config[key].update(value)
            else:
                self.config[key] = value
        self.write_config()
        test.addCleanup(self.cleanup)

    def write_config(self, config=None):
        # YAML is a superset of JSON, so the config is written as JSON.
        with open(self.config_path, "w") as f:
            json.dump(config or self.config, f, indent=2)

    def start(self, wait=True, argv_prefix=None, extra_env=None, args=None):
        if self.notify:
            self.notify.close()
        notify_path = os.path.join(self.dir, f"notify-{time.monotonic_ns()}.sock")
        self.notify = NotifySocket(notify_path)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = notify_path
        env.update(self.env_extra)
        env.update(extra_env or {})
        if getattr(self, "log_file", None):
            self.log_file.close()
        self.log_file = open(self.log_path, "a")
        # "{notify}" in a prefix (e.g. systemd-socket-activate -E NOTIFY_SOCKET={notify}) is the
        # notify socket's path: that tool passes only the variables it is told to.
        prefix = [arg.replace("{notify}", notify_path) for arg in (argv_prefix or [])]
        argv = prefix + [PURGEQD, "--config", self.config_path] + list(args or [])
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=self.log_file, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        try:
            self.notify.wait_for("READY=1", timeout=timeout)
        except AssertionError:
            raise AssertionError("purgeqd did not become ready; log:\n" + self.logs())

    def request(self, method, target, body=None, timeout=60):
        return unix_request(self.socket_path, method, target, body, timeout=timeout)

    def submit(self, body):
        return self.request("POST", "/v1/purge", body)

    def intent(self, intent_id, wait=None):
        target = f"/v1/intents/{intent_id}" + (f"?wait={wait}" if wait is not None else "")
        return self.request("GET", target, timeout=(wait or 0) + 30)

    def wait_terminal(self, intent_id, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            left = int(deadline - time.monotonic())
            status, body = self.intent(intent_id, wait=max(1, min(left, 20)))
            if status == 200 and body["status"] in ("done", "failed", "partial"):
                return body
            if time.monotonic() >= deadline:
                raise AssertionError(f"intent {intent_id} not terminal: {body}")

    def cli(self, *args, stdin=None, timeout=120, env=None):
        full_env = dict(os.environ)
        full_env["PURGEQ_SOCKET"] = self.socket_path
        full_env.update(env or {})
        return subprocess.run([PURGEQ, *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=full_env)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def logs(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.notify:
            self.notify.close()
        if getattr(self, "log_file", None):
            self.log_file.close()


class FakeFixture:
    """The fake Cloudflare API in this process."""

    def __init__(self, test, config=None):
        self.server = FakeCloudflare(config or default_fake_config())
        self.port = self.server.start()
        test.addCleanup(self.server.stop)

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def post(self, path, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def requests(self):
        return self.get("/_fake/requests")

    def purged(self):
        return self.get("/_fake/purged")

    def stats(self):
        return self.get("/_fake/stats")
