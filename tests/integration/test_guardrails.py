"""Purge-everything guardrails: a per-zone minimum interval between two purge-everything requests
(zones[].everything), refused or merged as configured, and who may purge everything (access rules
for local peers, api_clients kinds on TCP) refused with a 403 naming the rule."""

import http.client
import json
import os
import socket
import time
import unittest

from harness import ZONE_A, ZONE_B, DaemonFixture, FakeFixture, default_fake_config, wait_until


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guarded_zones(within):
    return [
        dict(name="a.example", id=ZONE_A, account="acct1",
             everything={"min_interval": "60s", "within": within}),
        dict(name="b.example", id=ZONE_B, account="acct1"),
    ]


class MinIntervalTest(unittest.TestCase):
    def start(self, within):
        self.fake = FakeFixture(self, default_fake_config())
        self.daemon = DaemonFixture(self, fake=self.fake, zones=guarded_zones(within)).start()
        return self.daemon

    def purge_everything_requests(self, zone_id):
        return [e for e in self.fake.requests()
                if e.get("kind") == "purge_everything" and e.get("zone_id") == zone_id
                and e.get("status") == 200]

    def submit_twice_one_second_apart(self):
        daemon = self.daemon
        first_at = time.monotonic()
        status, first = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 202, first)
        self.assertEqual(daemon.wait_terminal(first["id"], timeout=30)["status"], "done")
        time.sleep(max(0.0, first_at + 1.0 - time.monotonic()))
        return daemon.submit({"purge_everything": True, "zone": "a.example"})

    def assert_too_soon(self, message, within):
        self.assertIn("zone a.example", message)
        self.assertIn("zones[0].everything.min_interval is 1m", message)
        self.assertIn(f"(within: {within}", message)
        self.assertRegex(message, r"the next is allowed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, in "
                                  r"(59|60|58) s")

    def test_refuse_refuses_the_second_naming_the_rule_and_when(self):
        daemon = self.start("refuse")
        status, body = self.submit_twice_one_second_apart()
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "everything_too_soon")
        self.assert_too_soon(body["error"]["message"], "refuse")
        self.assertRegex(daemon.logs(), r"event=intent_rejected code=everything_too_soon")

        # Cloudflare's route answers in Cloudflare's envelope.
        status, body = daemon.request("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                                      {"purge_everything": True})
        self.assertEqual(status, 429, body)
        self.assertFalse(body["success"])
        self.assertEqual(body["errors"][0]["code"], 10429)
        self.assert_too_soon(body["errors"][0]["message"], "refuse")

        # The CLI (no terminal here: no question) reports the refusal and exits 2.
        run = daemon.cli("--zone", "a.example", "everything")
        self.assertEqual(run.returncode, 2, run.stdout + run.stderr)
        self.assertIn("HTTP 429", run.stderr)
        self.assertIn("zones[0].everything.min_interval", run.stdout + run.stderr)

        # Other kinds, and zones without an interval, are not held back.
        status, body = daemon.submit({"tags": ["t"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        status, body = daemon.submit({"purge_everything": True, "zone": "b.example"})
        self.assertEqual(status, 202, body)
        daemon.wait_terminal(body["id"], timeout=30)
        status, body = daemon.submit({"purge_everything": True, "zone": "b.example"})
        self.assertEqual(status, 202, body)
        daemon.wait_terminal(body["id"], timeout=30)

        self.assertEqual(len(self.purge_everything_requests(ZONE_A)), 1)
        self.assertEqual(len(self.purge_everything_requests(ZONE_B)), 2)

    def test_merge_sends_one_purge_everything(self):
        daemon = self.start("merge")
        status, body = self.submit_twice_one_second_apart()
        # Nothing is pending to ride on once the first was sent: the second is refused too.
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "everything_too_soon")
        self.assert_too_soon(body["error"]["message"], "merge")
        self.assertIn("none is pending to merge with", body["error"]["message"])
        time.sleep(0.5)  # a wrongly accepted second request would have left by now
        self.assertEqual(len(self.purge_everything_requests(ZONE_A)), 1)

    def test_the_last_send_survives_a_restart(self):
        daemon = self.start("refuse")
        status, body = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 202, body)
        daemon.wait_terminal(body["id"], timeout=30)
        self.assertEqual(daemon.terminate(), 0)
        daemon.start()
        status, body = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "everything_too_soon")


class WhoMayTest(unittest.TestCase):
    def test_an_access_rule_refuses_everything_with_403_naming_the_rule(self):
        daemon = DaemonFixture(self, dry_run=True, extra={"access": [
            {"name": "everything-only-for-deployers", "kinds": ["everything"],
             "users": ["4242"]}]}).start()
        status, body = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "access_denied")
        self.assertIn("everything-only-for-deployers", body["error"]["message"])
        # The rule is about everything only.
        status, body = daemon.submit({"tags": ["t"], "zone": "a.example"})
        self.assertEqual(status, 202, body)

    def test_an_api_client_without_the_kind_gets_cloudflares_403_naming_the_client(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = DaemonFixture(self, fake=fake)
        token = "client-token-cms-0123456789"
        path = os.path.join(daemon.dir, "cms.client-token")
        with open(path, "w") as f:
            f.write(token + "\n")
        port = free_port()
        daemon.config["tcp"] = {"listen": f"127.0.0.1:{port}"}
        daemon.config["api_clients"] = [{"name": "cms", "token_file": path,
                                         "kinds": ["file", "tag"]}]
        daemon.write_config()
        daemon.start()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                         body=json.dumps({"purge_everything": True}),
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
            response = conn.getresponse()
            status, body = response.status, json.loads(response.read())
        finally:
            conn.close()
        self.assertEqual(status, 403, body)
        self.assertFalse(body["success"])
        self.assertEqual(body["errors"][0]["code"], 10000)
        self.assertIn('api_clients "cms"', body["errors"][0]["message"])
        self.assertIn("everything", body["errors"][0]["message"])
        self.assertFalse(any(e.get("kind") == "purge_everything" for e in fake.requests()))


if __name__ == "__main__":
    unittest.main()
