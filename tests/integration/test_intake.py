"""Intake: the socket API and the CLI against the real purgeqd (dry run, no upstream needed)."""

import json
import os
import socket
import subprocess
import threading
import time
import unittest

from harness import PURGEQ, PURGEQD, ZONE_A, DaemonFixture, unix_request, wait_until


class IntakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.case = unittest.TestCase()

    def setUp(self):
        self.daemon = DaemonFixture(self, dry_run=True).start()

    def test_submit_answers_202_and_the_intent_is_reported(self):
        status, body = self.daemon.submit(
            {"files": ["https://a.example/x.css",
                       {"url": "https://www.a.example/", "headers": {"CF-Device-Type": "mobile"}}],
             "tags": ["Blog"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        self.assertEqual(body["status"], "queued")
        self.assertEqual(body["items"], 3)
        final = self.daemon.wait_terminal(body["id"], timeout=30)
        self.assertEqual(final["status"], "done")
        self.assertEqual(final["items"]["done"], 3)
        self.assertEqual(final["peer"]["uid"], os.getuid())

    def test_every_kind_of_bad_item_is_refused_whole_and_names_the_item(self):
        cases = [
            ({"files": ["/relative/path"]}, "/relative/path"),
            ({"files": ["ftp://a.example/x"]}, "ftp://a.example/x"),
            ({"files": ["https://unknown.example/x"]}, "https://unknown.example/x"),
            ({"files": [{"url": "https://a.example/x", "headers": {"Bad Name": "v"}}]},
             "https://a.example/x"),
            ({"tags": ["has space"], "zone": "a.example"}, "has space"),
            # A long item comes back cut to 256 bytes, with its length.
            ({"tags": ["x" * 1025], "zone": "a.example"}, "x" * 256 + "... (1025 bytes)"),
            ({"hosts": ["https://a.example"]}, "https://a.example"),
            ({"prefixes": ["https://a.example/blog"]}, "https://a.example/blog"),
            ({"prefixes": ["a.example/" + "/".join(["d"] * 32)]}, None),
            ({"prefixes": ["a.example/blog?x=1"]}, "a.example/blog?x=1"),
            ({"prefixes": ["a.example/../../etc"]}, "a.example/../../etc"),
            ({"purge_everything": False, "zone": "a.example"}, None),
            ({"tags": ["t"]}, None),  # three zones configured: tags need a zone
            ({"files": "https://a.example/x"}, None),
            ({"bogus": True}, None),
            ({}, None),
        ]
        for body, item in cases:
            with self.subTest(body=json.dumps(body)[:80]):
                mixed = dict(body)
                # A good item alongside must not be stored either.
                mixed.setdefault("hosts", []) if "hosts" in body else None
                status, answer = self.daemon.submit(body)
                self.assertEqual(status, 400, answer)
                self.assertIn("code", answer["error"])
                self.assertTrue(answer["error"]["message"])
                if item is not None:
                    self.assertEqual(answer["error"].get("item"), item, answer)
        status, answer = self.daemon.submit(
            {"files": ["https://a.example/good", "https://nowhere.example/bad"]})
        self.assertEqual(status, 400)
        _, st = self.daemon.request("GET", "/v1/status")
        self.assertEqual(st["pending"], 0, "nothing of a rejected intent may be queued")

    def test_cli_submits_reads_stdin_and_maps_exit_codes(self):
        urls = "".join(f"https://a.example/p/{i}\n" for i in range(2000)) + "\n"
        result = self.daemon.cli("--json", "url", "-", stdin=urls)
        self.assertEqual(result.returncode, 0, result.stderr)
        answer = json.loads(result.stdout)
        self.assertEqual(answer["items"], 2000)
        shown = self.daemon.cli("--json", "wait", answer["id"], "--timeout", "30")
        self.assertEqual(shown.returncode, 0, shown.stdout + shown.stderr)
        self.assertEqual(json.loads(shown.stdout)["status"], "done")

        bad = self.daemon.cli("url", "notaurl")
        self.assertEqual(bad.returncode, 2, bad.stdout + bad.stderr)
        self.assertIn("notaurl", bad.stderr)
        tag = self.daemon.cli("--zone", "a.example", "--wait=30", "tag", "release-42")
        self.assertEqual(tag.returncode, 0, tag.stdout + tag.stderr)
        headers = self.daemon.cli("url", "https://a.example/m", "-H", "CF-Device-Type: mobile")
        self.assertEqual(headers.returncode, 0, headers.stderr)
        unreachable = self.daemon.cli("status", env={"PURGEQ_SOCKET": "/nonexistent/purgeq.sock"})
        self.assertEqual(unreachable.returncode, 3, unreachable.stderr)
        self.assertEqual(self.daemon.cli("status").returncode, 0)

    def test_oversized_body_gets_413(self):
        # The daemon answers as soon as the announced size is over the bound, without reading it.
        size = 9 * 1024 * 1024
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self.daemon.socket_path)
        sock.sendall(b"POST /v1/purge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {size}\r\n\r\n".encode() + b'{"files": [' + b" " * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.assertEqual(self.daemon.submit({"tags": ["t"], "zone": "a.example"})[0], 202)

    def test_an_intent_over_the_item_cap_gets_413_at_once(self):
        # 1,000,000 distinct tags in under 8 MiB: validating and storing them took ~13 s and held
        # up everyone; counted first, they are refused before any is looked at.
        def base36(n):
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"
            out = ""
            while True:
                n, r = divmod(n, 36)
                out = digits[r] + out
                if n == 0:
                    return out

        tags = ["t" + base36(i) for i in range(1_000_000)]
        body = json.dumps({"tags": tags, "zone": "a.example"}, separators=(",", ":")).encode()
        self.assertLess(len(body), 8 * 1024 * 1024)
        answer = {}

        def submit():
            started = time.monotonic()
            answer["result"] = unix_request(self.daemon.socket_path, "POST", "/v1/purge", body)
            answer["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=submit)
        thread.start()
        slowest_health = 0.0
        while thread.is_alive():
            started = time.monotonic()
            self.assertEqual(self.daemon.request("GET", "/healthz", timeout=30)[0], 200)
            slowest_health = max(slowest_health, time.monotonic() - started)
            time.sleep(0.02)
        thread.join()
        status, error = answer["result"]
        self.assertEqual(status, 413, str(error)[:500])
        self.assertEqual(error["error"]["code"], "too_many_items")
        self.assertIn("1000000 items", error["error"]["message"])
        self.assertIn("intake.max_items_per_intent is 250000", error["error"]["message"])
        self.assertLess(answer["seconds"], 5, "the refusal must not validate a million items")
        self.assertLess(slowest_health, 2, "/healthz must answer while the big intent is refused")
        _, st = self.daemon.request("GET", "/v1/status")
        self.assertEqual(st["pending"], 0)

    def test_a_body_over_the_cap_names_the_limit_and_is_logged_and_counted(self):
        daemon = DaemonFixture(self, dry_run=True,
                               extra={"intake": {"max_body_bytes": 4096}}).start()
        body = json.dumps({"tags": [f"tag-{i}" for i in range(1000)], "zone": "a.example"})
        self.assertGreater(len(body), 4096)
        status, error = unix_request(daemon.socket_path, "POST", "/v1/purge", body)
        self.assertEqual(status, 413, error)
        self.assertEqual(error["error"]["code"], "body_too_large")
        self.assertIn("intake.max_body_bytes (4096 bytes)", error["error"]["message"])
        self.assertRegex(daemon.logs(), r"event=intent_rejected code=body_too_large listener=unix "
                                        r"uid=\d+ pid=\d+ target=/v1/purge")
        # Counted with the refusals of the routes, by code.
        self.assertEqual(daemon.submit({"tags": ["x"], "zone": "nowhere"})[0], 400)
        _, metrics = daemon.request("GET", "/metrics")
        self.assertIn('purgeq_intents_rejected_total{code="body_too_large"} 1', metrics)
        self.assertIn('purgeq_intents_rejected_total{code="unknown_zone"} 1', metrics)
        # Below the cap all is as before.
        self.assertEqual(daemon.submit({"tags": ["t"], "zone": "a.example"})[0], 202)

    def test_item_cap_is_configurable_and_the_cloudflare_endpoint_answers_in_its_envelope(self):
        daemon = DaemonFixture(self, dry_run=True,
                               extra={"intake": {"max_items_per_intent": 3}}).start()
        self.assertEqual(daemon.submit({"tags": ["a", "b", "c"], "zone": "a.example"})[0], 202)
        status, body = daemon.submit({"tags": ["a", "b"], "hosts": ["a.example", "www.a.example"],
                                      "zone": "a.example"})
        self.assertEqual(status, 413, body)
        self.assertEqual(body["error"]["code"], "too_many_items")
        self.assertIn("intake.max_items_per_intent is 3", body["error"]["message"])
        status, body = daemon.request("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                                      {"tags": ["a", "b", "c", "d"]})
        self.assertEqual(status, 413, body)
        self.assertFalse(body["success"])
        self.assertIn("intake.max_items_per_intent is 3", body["errors"][0]["message"])

    def test_a_member_named_twice_is_refused(self):
        # Boost.JSON keeps the last of two equal keys: files[0] of the first would vanish.
        cases = [
            ('{"files":["https://a.example/1"],"files":["https://a.example/2"]}', '"files"'),
            ('{"zone":"a.example","tags":["x"],"zone":"b.example"}', '"zone"'),
            ('{"files":[{"url":"https://a.example/1","url":"https://a.example/2"}]}',
             'files[0]: duplicate member "url"'),
            ('{"files":[{"url":"https://a.example/1","headers":{"Origin":"https://x.example",'
             '"Origin":"https://y.example"}}]}', 'files[0].headers: duplicate member "Origin"'),
        ]
        for body, needle in cases:
            with self.subTest(body=body):
                status, answer = self.daemon.request("POST", "/v1/purge", body)
                self.assertEqual(status, 400, answer)
                self.assertEqual(answer["error"]["code"], "duplicate_key")
                self.assertIn(needle, answer["error"]["message"])
        status, answer = self.daemon.request(
            "POST", f"/client/v4/zones/{ZONE_A}/purge_cache", '{"tags":["a"],"tags":["b"]}')
        self.assertEqual(status, 400, answer)
        self.assertFalse(answer["success"])
        self.assertIn('"tags"', answer["errors"][0]["message"])
        _, st = self.daemon.request("GET", "/v1/status")
        self.assertEqual(st["pending"], 0)

    def test_a_huge_rejected_item_is_not_echoed_whole(self):
        tag = "x" * (7 * 1024 * 1024)
        conn_started = time.monotonic()
        status, answer = self.daemon.submit({"tags": [tag], "zone": "a.example"})
        self.assertEqual(status, 400)
        self.assertEqual(answer["error"]["code"], "tag_too_long")
        self.assertLess(len(json.dumps(answer)), 2048, "the answer must not carry the item whole")
        self.assertEqual(answer["error"]["item"], "x" * 256 + f"... ({len(tag)} bytes)")
        self.assertLess(time.monotonic() - conn_started, 10)
        status, answer = self.daemon.submit({"tags": [["nested"] * 200000], "zone": "a.example"})
        self.assertEqual(status, 400)
        self.assertEqual(answer["error"]["code"], "not_a_string")
        self.assertLess(len(json.dumps(answer)), 2048)

    def test_prefix_with_dot_segments_is_refused_and_says_why(self):
        for prefix in ("a.example/../../etc", "a.example/blog/./x", "a.example/blog/..",
                       "a.example/blog/.", "a.example/%2e%2e/etc"):
            with self.subTest(prefix=prefix):
                status, answer = self.daemon.submit({"prefixes": [prefix]})
                self.assertEqual(status, 400, answer)
                self.assertEqual(answer["error"]["code"], "invalid_prefix")
                self.assertIn('".." path segment', answer["error"]["message"])
        self.assertEqual(self.daemon.submit({"prefixes": ["a.example/..blog/.x/"]})[0], 202)

    def test_a_stalled_client_does_not_block_others(self):
        # A client that sends half a request and stops must not hold up anyone else.
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.connect(self.daemon.socket_path)
        stalled.sendall(b"POST /v1/purge HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        garbage = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        garbage.connect(self.daemon.socket_path)
        garbage.sendall(b"\x00\x01 not http at all\r\n\r\n")
        started = time.monotonic()
        for i in range(20):
            status, _ = self.daemon.submit({"tags": [f"t{i}"], "zone": "a.example"})
            self.assertEqual(status, 202)
        self.assertLess(time.monotonic() - started, 10)
        stalled.close()
        garbage.close()

    def test_cloudflare_compatible_endpoint(self):
        status, body = self.daemon.request(
            "POST", f"/client/v4/zones/{ZONE_A}/purge_cache", {"tags": ["homepage"]})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["success"])
        self.assertEqual(self.daemon.wait_terminal(body["result"]["id"])["status"], "done")
        status, body = self.daemon.request(
            "POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
            {"purge_everything": True, "tags": ["x"]})
        self.assertEqual(status, 400)
        self.assertFalse(body["success"])
        status, body = self.daemon.request(
            "POST", "/client/v4/zones/" + "f" * 32 + "/purge_cache", {"tags": ["x"]})
        self.assertEqual(status, 404)
        self.assertEqual(body["errors"][0]["code"], 7003)

    def test_healthz_status_and_unknown_intent(self):
        self.assertEqual(self.daemon.request("GET", "/healthz")[0], 200)
        status, body = self.daemon.request("GET", "/v1/status")
        self.assertEqual(status, 200)
        for key in ("queue", "accounts", "recent_errors", "failed_items", "uptime_seconds",
                    "version"):
            self.assertIn(key, body)
        self.assertEqual(self.daemon.intent("doesnotexist")[0], 404)
        shown = self.daemon.cli("show", "doesnotexist")
        self.assertEqual(shown.returncode, 2, shown.stderr)


class StartupTest(unittest.TestCase):
    def test_check_config_prints_every_problem_with_its_path(self):
        daemon = DaemonFixture(self, dry_run=False)
        config = dict(daemon.config)
        config["batching"] = {"lingr": "200ms"}
        config["zones"] = [dict(z) for z in config["zones"]]
        config["zones"][1]["account"] = "mian"
        config["retry"] = {"max": "5 minutes"}
        daemon.write_config(config)
        result = subprocess.run([PURGEQD, "--config", daemon.config_path, "--check-config"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn('batching.lingr: unknown key (did you mean "linger"?)', result.stderr)
        self.assertIn('zones[1].account: unknown account "mian"', result.stderr)
        self.assertIn('retry.max: invalid duration "5 minutes"', result.stderr)
        ok = DaemonFixture(self, dry_run=True)
        result = subprocess.run([PURGEQD, "--config", ok.config_path, "--check-config"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_check_config_refuses_a_malformed_api_base(self):
        daemon = DaemonFixture(self, dry_run=True)
        for base, reason in (("http://:80/x", "no host"),
                             ("http://exa mple.com/client/v4", "whitespace"),
                             ("https://api.cloudflare.com/client/v4?x=1", "query"),
                             ("https://api.cloudflare.com/client/v4#top", "fragment"),
                             ("ftp://api.cloudflare.com/client/v4", "http:// or https://")):
            with self.subTest(base=base):
                config = dict(daemon.config)
                config["cloudflare"] = dict(config["cloudflare"], api_base=base)
                daemon.write_config(config)
                result = subprocess.run(
                    [PURGEQD, "--config", daemon.config_path, "--check-config"],
                    capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
                self.assertIn("cloudflare.api_base: ", result.stderr)
                self.assertIn(reason, result.stderr)

    def test_stale_socket_is_replaced_but_a_live_one_is_refused(self):
        daemon = DaemonFixture(self, dry_run=True)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(daemon.socket_path)
        stale.close()  # the file stays, nothing listens: stale
        daemon.start()
        self.assertEqual(daemon.request("GET", "/healthz")[0], 200)
        mode = os.stat(daemon.socket_path).st_mode & 0o777
        self.assertEqual(mode, 0o660)
        second = subprocess.run([PURGEQD, "--config", daemon.config_path], capture_output=True,
                                text=True, timeout=30)
        self.assertEqual(second.returncode, 1)
        self.assertIn("another process is listening", second.stderr)
        self.assertEqual(daemon.request("GET", "/healthz")[0], 200)

    def test_shipped_dev_config_is_valid(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        result = subprocess.run(
            [PURGEQD, "--config", os.path.join(root, "config", "purgeq.dev.yaml"),
             "--check-config"], capture_output=True, text=True, timeout=30, cwd=root)
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main()
