"""The status page's ways in (issue 23): the TCP listener only with a `status` client token, the
metrics port with GET /metrics and nothing else, `purgeq dashboard` behind its one-time secret
asking purgeqd as the user who runs it; and GET /v1/status/history's counts."""

import base64
import http.client
import json
import os
import shutil
import signal
import unittest
import urllib.parse

from harness import wait_until
from status_scene import (BACKLOG, FAILED, METRICS_TOKEN, PURGE_TOKEN, PURGED, STATUS_TOKEN,
                          Scene)

NOBODY = 65534


def get(port, target, headers=None, method="GET", host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = dict(headers or {})
        if host:
            all_headers["Host"] = host
        conn.request(method, target, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), raw
    finally:
        conn.close()


def stop(proc):
    """SIGTERM, as Ctrl-C would: the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    return code


def error_code(raw):
    return json.loads(raw)["error"]["code"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class StatusPageAccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scene = Scene(cls._Owner())

    @classmethod
    def tearDownClass(cls):
        cls._Owner.run_cleanups()

    class _Owner:
        """The scene outlives single tests: one purgeqd for the module keeps it fast."""
        cleanups = []

        def addCleanup(self, fn, *args):
            StatusPageAccessTest._Owner.cleanups.append((fn, args))

        @classmethod
        def run_cleanups(cls):
            while cls.cleanups:
                fn, args = cls.cleanups.pop()
                fn(*args)

    def test_history_counts_what_happened_second_by_second(self):
        # The current second is left out until it has passed.
        def counted():
            status, body = self.scene.daemon.request("GET", "/v1/status/history")
            self.assertEqual(status, 200, body)
            return sum(body["series"]["items_purged"]) == PURGED and body
        body = wait_until(counted, timeout=5, what="the purges in the history")
        self.assertEqual(body["step_s"], 1)
        self.assertEqual(body["seconds"], 900)
        series = body["series"]
        self.assertEqual(sorted(series), ["items_accepted", "items_failed", "items_purged",
                                          "requests"])
        for name, values in series.items():
            self.assertEqual(len(values), 900, name)
        self.assertEqual(sum(series["items_accepted"]), PURGED + FAILED + BACKLOG)
        self.assertEqual(sum(series["items_purged"]), PURGED)
        self.assertEqual(sum(series["items_failed"]), FAILED)
        self.assertGreaterEqual(sum(series["requests"]), 3)

    def test_status_shows_buckets_window_lanes_and_the_pause(self):
        st = self.scene.status
        acct1, acct2 = st["accounts"]["acct1"], st["accounts"]["acct2"]
        self.assertEqual(acct1["flex_bucket_size"], 500)
        self.assertGreater(acct1["url_bucket_size"], 0)
        self.assertLessEqual(acct1["url_tokens"], acct1["url_bucket_size"])
        self.assertEqual(acct1["global_limit"], 1200)
        self.assertEqual(acct1["global_window_s"], 300)
        self.assertGreaterEqual(acct1["global_used"], 3)
        self.assertTrue(acct2["paused"])
        self.assertIn("paused_since_ms", acct2)
        self.assertLessEqual(acct2["paused_since_ms"], st["now_ms"])
        self.assertEqual(st["queue"]["c.example"]["lanes"], {"normal": {"file": BACKLOG}})
        self.assertFalse(st["storage"]["disk_full"])

    def test_tcp_needs_a_client_with_the_status_scope(self):
        port = self.scene.tcp_port
        for target in ("/", "/assets/status.js", "/v1/status", "/v1/status/history"):
            status, headers, raw = get(port, target)
            self.assertEqual(status, 401, target)
            self.assertEqual(error_code(raw), "token_required", target)
            self.assertIn("Basic realm=", headers.get("WWW-Authenticate", ""), target)
            status, _, raw = get(port, target, bearer(PURGE_TOKEN))
            self.assertEqual(status, 403, target)
            self.assertIn('api_clients "cms" may not read status', json.loads(raw)["error"]["message"])
            status, _, raw = get(port, target, bearer("not-a-token-0123456789abcdefgh"))
            self.assertEqual(status, 401, target)
            self.assertEqual(error_code(raw), "bad_token")
        status, headers, raw = get(port, "/", bearer(STATUS_TOKEN))
        self.assertEqual(status, 200)
        self.assertIn(b"<title>purgeq status</title>", raw)
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        self.assertNotIn(b"http://", raw.replace(b"http://www.w3.org", b""))
        basic = base64.b64encode(f"ops:{STATUS_TOKEN}".encode()).decode()
        status, _, raw = get(port, "/v1/status/history", {"Authorization": f"Basic {basic}"})
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(raw)["series"]["items_purged"]), 900)
        status, _, raw = get(port, f"/v1/intents/{self.scene.paused_id}", bearer(STATUS_TOKEN))
        self.assertEqual(status, 200)
        self.assertIn("sentence", json.loads(raw)["waiting_for"][0])
        # A status client only looks: no failed items, no retry, no purge.
        for method, target in (("GET", "/v1/failed"), ("POST", "/v1/failed/retry"),
                               ("POST", "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache")):
            status, _, raw = get(port, target, bearer(STATUS_TOKEN), method=method)
            self.assertEqual(status, 403, target)
        status, _, _ = get(port, "/metrics", bearer(STATUS_TOKEN))
        self.assertEqual(status, 404)

    def test_metrics_port_serves_metrics_and_nothing_else(self):
        port = self.scene.metrics_port
        status, headers, raw = get(port, "/metrics", bearer(METRICS_TOKEN))
        self.assertEqual(status, 200)
        text = raw.decode()
        self.assertIn('purgeq_items_purged_total{kind="file"} %d' % PURGED, text)
        self.assertIn('purgeq_account_paused{account="acct2"', text)
        self.assertIn("purgeq_storage_reserve_in_use 0", text)
        status, headers, raw = get(port, "/metrics")
        self.assertEqual((status, error_code(raw)), (401, "token_required"))
        self.assertIn("Bearer", headers["WWW-Authenticate"])
        status, _, raw = get(port, "/metrics", bearer("wrong-token-0123456789abcdef"))
        self.assertEqual((status, error_code(raw)), (401, "bad_token"))
        for target in ("/", "/v1/status", "/v1/status/history", "/healthz", "/v1/failed"):
            status, _, raw = get(port, target, bearer(METRICS_TOKEN))
            self.assertEqual((status, error_code(raw)), (404, "not_found"), target)

    def test_dashboard_proxies_as_the_caller_behind_its_secret(self):
        proc, url = self.scene.dashboard()
        self.addCleanup(stop, proc)
        parts = urllib.parse.urlsplit(url)
        self.assertEqual(parts.hostname, "127.0.0.1")
        secret = parts.path.strip("/")
        self.assertRegex(secret, r"^[0-9a-f]{32}$")
        port = parts.port
        host = f"127.0.0.1:{port}"
        status, headers, raw = get(port, parts.path, host=host)
        self.assertEqual(status, 200)
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        status, _, raw = get(port, parts.path + "v1/status", host=host)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["pending"], BACKLOG)
        wrong = ("0" if secret[0] != "0" else "1") + secret[1:]
        for target in (f"/{wrong}/", f"/{wrong}/v1/status", "/", "/v1/status"):
            status, _, raw = get(port, target, host=host)
            self.assertEqual((status, error_code(raw)), (404, "not_found"), target)
        status, _, _ = get(port, parts.path + "v1/status", host=f"attacker.example:{port}")
        self.assertEqual(status, 403)
        status, _, _ = get(port, parts.path + "v1/purge", host=host, method="POST")
        self.assertEqual(status, 404)
        # The same secret does not come back: a new run, a new address.
        proc2, url2 = self.scene.dashboard()
        self.addCleanup(stop, proc2)
        self.assertNotEqual(urllib.parse.urlsplit(url2).path, parts.path)
        # Ctrl-C or SIGTERM stops it with exit code 0.
        self.assertEqual(stop(proc2), 0)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_a_non_admin_cannot_list_or_retry_failed_items_through_the_dashboard(self):
        proc, url = self.scene.dashboard(
            argv_prefix=["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"])
        self.addCleanup(stop, proc)
        parts = urllib.parse.urlsplit(url)
        host = f"127.0.0.1:{parts.port}"
        status, _, raw = get(parts.port, parts.path + "v1/status", host=host)
        self.assertEqual(status, 200, raw)
        for method, target in (("GET", "v1/failed"), ("POST", "v1/failed/retry")):
            status, _, raw = get(parts.port, parts.path + target, host=host, method=method)
            self.assertEqual((status, error_code(raw)), (403, "access_denied"), target)
        _, st = self.scene.daemon.request("GET", "/v1/status")
        self.assertEqual(st["failed_items"], FAILED, "nothing was requeued")


if __name__ == "__main__":
    unittest.main()
