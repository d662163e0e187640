"""A purgeqd worth looking at, for the status page's tests (test_status_page*.py, test_monitoring.py):
some purges done, a backlog behind a paused account, failed items; the TCP listener with a
purge-only client and a status client, and the metrics port with its token."""

import os
import socket
import subprocess
import time

from harness import PURGEQ, DaemonFixture, FakeFixture, default_fake_config, wait_until

PURGE_TOKEN = "client-token-purge-0123456789abcdef"
STATUS_TOKEN = "client-token-status-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
POISON = "https://a.example/poison"
PURGED = 40     # files purged on a.example and b.example
BACKLOG = 25    # files on c.example, whose account acct2 is paused
FAILED = 1      # the poison URL, refused by Cloudflare


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secret(daemon, name, text):
    path = os.path.join(daemon.dir, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    return path


class Scene:
    """Starts the fake and purgeqd and brings them to the state above."""

    def __init__(self, test, metrics=True, tcp=True, mode="0666"):
        self.fake = FakeFixture(test, default_fake_config())
        self.fake.post("/_fake/faults", {"pause_auth": ["acct2"], "refuse_items": [POISON]})
        self.daemon = DaemonFixture(test, fake=self.fake,
                                    extra={"listen": {"mode": mode}, "admin": {"users": ["root"]}})
        # Other uids (test_status_page's non-admin) must reach the socket inside.
        os.chmod(self.daemon.dir, 0o711)
        config = self.daemon.config
        self.tcp_port = self.metrics_port = None
        if tcp:
            self.tcp_port = free_port()
            config["tcp"] = {"listen": f"127.0.0.1:{self.tcp_port}"}
            config["api_clients"] = [
                {"name": "cms", "token_file": write_secret(self.daemon, "cms.token", PURGE_TOKEN)},
                {"name": "ops", "token_file": write_secret(self.daemon, "ops.token", STATUS_TOKEN),
                 "scopes": ["status"]},
            ]
        if metrics:
            self.metrics_port = free_port()
            config["metrics"] = {
                "listen": f"127.0.0.1:{self.metrics_port}",
                "token_file": write_secret(self.daemon, "metrics.token", METRICS_TOKEN)}
        self.daemon.write_config()
        self.daemon.start()
        self.done_id = self.submit({"zone": "a.example", "files": [
            f"https://a.example/p/{i}" for i in range(PURGED // 2)]})
        self.submit({"zone": "b.example", "files": [
            f"https://b.example/p/{i}" for i in range(PURGED // 2)]})
        self.failed_id = self.submit({"zone": "a.example", "files": [POISON]})
        self.paused_id = self.submit({"zone": "c.example", "files": [
            f"https://c.example/p/{i}" for i in range(BACKLOG)]})
        self.daemon.wait_terminal(self.done_id)
        self.daemon.wait_terminal(self.failed_id)

        def settled():
            _, st = self.daemon.request("GET", "/v1/status")
            acct2 = st["accounts"]["acct2"]
            ok = (acct2["paused"] and st["failed_items"] == FAILED and st["pending"] == BACKLOG
                  and st["in_flight_items"] == 0)
            return ok and st
        self.status = wait_until(settled, timeout=30, what="purges done, acct2 paused")

    def submit(self, body):
        status, answer = self.daemon.submit(body)
        assert status == 202, answer
        return answer["id"]

    def dashboard(self, argv_prefix=(), port=None):
        """`purgeq dashboard` as a child (as another user with a setpriv prefix): (process, url)."""
        argv = list(argv_prefix) + [PURGEQ, "dashboard"]
        if port:
            argv += ["--port", str(port)]
        env = dict(os.environ, PURGEQ_SOCKET=self.daemon.socket_path)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "open http://" in line:
                return proc, line.split("open ", 1)[1].strip()
            if not line and proc.poll() is not None:
                break
        proc.kill()
        raise AssertionError("purgeq dashboard printed no address: " + proc.stderr.read())
