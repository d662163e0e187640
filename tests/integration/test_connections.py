"""Connections: shutdown with clients waiting, connection limits per uid and overall, and
long-polls that notice their client left.

The tests that connect as other uids run `setpriv ... curl --unix-socket` (and python3), so they
need root, setpriv and curl; they are skipped otherwise.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

from harness import DaemonFixture, wait_until

NOBODY = 65534  # in /etc/passwd as "nobody" on Debian
STRANGER = 65533  # no passwd entry: known only by number


def _can_switch_users():
    return os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("curl")


def read_response(sock, timeout=10):
    """Reads one HTTP/1.1 response (Content-Length bodies only). Returns (status, headers, body)
    with header names lower-cased, or None when the connection closed before any byte came."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                return None
            raise AssertionError(f"connection closed inside the headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed inside the body")
        body += chunk
    return status, headers, body.decode()


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    return sock


def send_get(sock, target):
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())


def held_connection(path):
    """A keep-alive connection that has been answered once, so the daemon surely counts it."""
    sock = connect(path)
    send_get(sock, "/healthz")
    answer = read_response(sock)
    if answer is None or answer[0] != 200:
        sock.close()
        raise AssertionError(f"GET /healthz on a held connection answered {answer}")
    return sock


def closed_by_peer(sock, timeout=5):
    """True when the daemon closed the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def queued_intent(daemon):
    """An intent that stays unfinished: the upstream (port 9) refuses connections."""
    status, body = daemon.submit({"tags": ["never-done"], "zone": "a.example"})
    if status != 202:
        raise AssertionError(f"submit answered {status}: {body}")
    return body["id"]


class ShutdownTest(unittest.TestCase):
    def test_sigterm_with_clients_in_long_polls_exits_0(self):
        daemon = DaemonFixture(self, dry_run=False)
        for round_ in range(5):
            daemon.start()
            intent_id = queued_intent(daemon)
            polls = []
            for _ in range(8):
                sock = connect(daemon.socket_path)
                send_get(sock, f"/v1/intents/{intent_id}?wait=60")
                polls.append(sock)
            idle = connect(daemon.socket_path)
            time.sleep(0.3)  # the requests are read and waiting
            code = daemon.terminate(timeout=20)
            self.assertEqual(code, 0, f"round {round_}: purgeqd exited {code}; log:\n"
                             + daemon.logs()[-3000:])
            for sock in polls:
                # Woken by the stop: each waiter gets the current state, then the connection ends.
                answer = read_response(sock)
                if answer is not None:
                    status, _, body = answer
                    self.assertEqual(status, 200, body)
                    self.assertEqual(json.loads(body)["id"], intent_id)
                sock.close()
            idle.close()

    def test_sigterm_with_many_waiting_and_idle_clients_exits_0(self):
        daemon = DaemonFixture(self, dry_run=False)
        for round_ in range(2):
            daemon.start()
            intent_id = queued_intent(daemon)
            socks = []
            for i in range(100):
                sock = connect(daemon.socket_path)
                if i % 4 == 0:
                    sock.sendall(b"POST /v1/purge HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
                elif i % 4 != 1:
                    send_get(sock, f"/v1/intents/{intent_id}?wait=60")
                socks.append(sock)
            time.sleep(0.5)
            code = daemon.terminate(timeout=20)
            self.assertEqual(code, 0, f"round {round_}: purgeqd exited {code}; log:\n"
                             + daemon.logs()[-3000:])
            for sock in socks:
                sock.close()


class LimitTestBase(unittest.TestCase):
    def start(self, intake, dry_run=True, mode="0660"):
        daemon = DaemonFixture(self, dry_run=dry_run,
                               extra={"listen": {"mode": mode}, "intake": intake})
        # The fixture's directory is private to root; other uids must reach the socket inside.
        os.chmod(daemon.dir, 0o711)
        daemon.start()
        self.held = []
        self.addCleanup(lambda: [sock.close() for sock in self.held])
        return daemon

    def hold(self, daemon, count):
        for _ in range(count):
            self.held.append(held_connection(daemon.socket_path))

    def assert_refused(self, sock, *words):
        send_get(sock, "/healthz")
        answer = read_response(sock)
        self.assertIsNotNone(answer, "a refused connection must be answered, not just closed")
        status, headers, body = answer
        self.assertEqual(status, 503, body)
        self.assertIn("retry-after", headers)
        self.assertEqual(headers.get("connection"), "close")
        error = json.loads(body)["error"]
        self.assertEqual(error["code"], "too_many_connections", body)
        for word in words:
            self.assertIn(word, error["message"])
        self.assertTrue(closed_by_peer(sock), "a refused connection is closed after the answer")

    def as_user(self, daemon, uid, method, target, body=None):
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "curl", "-sS",
                "--max-time", "30", "--unix-socket", daemon.socket_path, "-X", method, "-w",
                "\n%{http_code}", f"http://localhost{target}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        text, _, code = result.stdout.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)


@unittest.skipUnless(_can_switch_users(), "needs root, setpriv and curl")
class ConnectionLimitTest(LimitTestBase):
    def test_a_uid_at_its_cap_gets_503_and_other_uids_still_get_in(self):
        daemon = self.start({"max_connections_per_uid": 20, "max_connections": 100}, mode="0666")
        self.hold(daemon, 20)
        refused = connect(daemon.socket_path)
        self.assert_refused(refused, "intake.max_connections_per_uid is 20", "uid 0")
        refused.close()
        # Another user is not locked out by root's connections: health, submissions, status.
        self.assertEqual(self.as_user(daemon, NOBODY, "GET", "/healthz")[0], 200)
        status, body = self.as_user(daemon, NOBODY, "POST", "/v1/purge",
                                    {"tags": ["other-user"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        # A slot root gives back is root's again.
        self.held.pop().close()
        wait_until(lambda: self._healthz_ok(daemon), timeout=5, what="a freed slot")
        self.assertIn("event=connection_refused", daemon.logs())

    def _healthz_ok(self, daemon):
        sock = connect(daemon.socket_path)
        try:
            send_get(sock, "/healthz")
            answer = read_response(sock)
            if answer and answer[0] == 200:
                self.held.append(sock)
                return True
        except OSError:
            pass
        sock.close()
        return False

    def test_the_global_cap_counts_every_uid(self):
        daemon = self.start({"max_connections_per_uid": 20, "max_connections": 30}, mode="0666")
        self.hold(daemon, 20)
        helper = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             sys.executable, "-c", HOLDER, daemon.socket_path, "10"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(helper.wait, 10)
        self.addCleanup(helper.stdout.close)
        self.addCleanup(helper.stdin.close)
        self.assertEqual(helper.stdout.readline().strip(), "holding 10")
        status, body = self.as_user(daemon, STRANGER, "GET", "/healthz")
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "too_many_connections")
        self.assertIn("intake.max_connections is 30", body["error"]["message"])
        helper.stdin.close()
        helper.wait(10)
        wait_until(lambda: self.as_user(daemon, STRANGER, "GET", "/healthz")[0] == 200,
                   timeout=5, what="a slot freed by the other uid")

    def test_a_per_uid_cap_above_the_global_cap_still_leaves_other_uids_a_slot(self):
        daemon = self.start({"max_connections_per_uid": 50, "max_connections": 20}, mode="0666")
        self.hold(daemon, 19)
        refused = connect(daemon.socket_path)
        self.assert_refused(refused, "intake.max_connections_per_uid is 50",
                            "intake.max_connections is 20")
        refused.close()
        status, body = self.as_user(daemon, NOBODY, "POST", "/v1/purge",
                                    {"tags": ["reserved-slot"], "zone": "a.example"})
        self.assertEqual(status, 202, body)


class LongPollTest(LimitTestBase):
    def test_long_polls_whose_client_left_free_their_slots(self):
        daemon = self.start({"max_connections_per_uid": 20}, dry_run=False)
        intent_id = queued_intent(daemon)
        polls = []
        for _ in range(20):
            sock = connect(daemon.socket_path)
            send_get(sock, f"/v1/intents/{intent_id}?wait=60")
            polls.append(sock)
        time.sleep(0.5)  # all 20 are waiting
        probe = connect(daemon.socket_path)
        self.assert_refused(probe, "intake.max_connections_per_uid is 20")
        probe.close()
        for sock in polls:
            sock.close()
        started = time.monotonic()
        deadline = started + 5
        while len(self.held) < 20 and time.monotonic() < deadline:
            sock = connect(daemon.socket_path)
            send_get(sock, "/healthz")
            answer = read_response(sock)
            if answer and answer[0] == 200:
                self.held.append(sock)
            else:
                sock.close()
                time.sleep(0.05)
        self.assertEqual(len(self.held), 20,
                         "connections whose client left a long-poll still hold their slots")
        self.assertLess(time.monotonic() - started, 5)


# Run as another uid: holds N answered keep-alive connections until stdin closes.
HOLDER = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    assert b" 200 " in data.split(b"\r\n")[0], data
    held.append(s)
print(f"holding {len(held)}", flush=True)
sys.stdin.read()
"""


if __name__ == "__main__":
    unittest.main()
