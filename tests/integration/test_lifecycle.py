"""systemd lifecycle with real tools: socket activation, notify, watchdog, reload, stop, metrics,
access control."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from harness import (PURGEQ, PURGEQD, ZONE_A, DaemonFixture, FakeFixture, default_fake_config,
                     unix_request, wait_until)

ACTIVATE = shutil.which("systemd-socket-activate")


def parse_metrics(text):
    """Prometheus text format 0.0.4: {family: {labels: value}}; fails on a malformed line."""
    types, samples = {}, {}
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in types:
                raise AssertionError(f"family {name} declared twice")
            types[name] = kind
            current = name
            continue
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
        if not match:
            raise AssertionError(f"malformed metrics line: {line!r}")
        name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        if family not in types:
            raise AssertionError(f"sample {name} has no # TYPE line")
        if family != current:
            raise AssertionError(f"sample {name} is not grouped under its # TYPE {family} line")
        samples.setdefault(name, {})[labels] = value
    return types, samples


class LifecycleTest(unittest.TestCase):
    @unittest.skipUnless(ACTIVATE, "systemd-socket-activate not installed")
    def test_socket_activation_ready_status_and_clean_stop(self):
        daemon = DaemonFixture(self, dry_run=True)
        activated = os.path.join(daemon.dir, "activated.sock")
        daemon.start(wait=False, argv_prefix=[ACTIVATE, "-l", activated, "--fdname=purgeq",
                                                  "-E", "NOTIFY_SOCKET={notify}"])
        wait_until(lambda: os.path.exists(activated), timeout=10, what="activated socket")
        # systemd-socket-activate starts the daemon on the first connection; that one is served.
        status, body = unix_request(activated, "GET", "/healthz", timeout=20)
        self.assertEqual(status, 200, body)
        daemon.wait_ready()
        status, body = unix_request(activated, "POST", "/v1/purge",
                                    {"tags": ["x"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        self.assertFalse(os.path.exists(daemon.socket_path),
                         "with an activated socket purgeqd must not create its own")
        daemon.notify.wait_for("STATUS=", timeout=10)
        self.assertEqual(daemon.terminate(), 0)
        daemon.notify.wait_for("STOPPING=1", timeout=5)
        self.assertTrue(os.path.exists(activated), "an activated socket is never unlinked")
        self.assertIn("socket=activated", daemon.logs())

    def test_reload_applies_a_good_config_and_keeps_the_old_on_a_bad_one(self):
        daemon = DaemonFixture(self, dry_run=True).start()
        before = daemon.notify.count()
        config = json.loads(json.dumps(daemon.config))
        config["zones"].append({"name": "d.example", "id": "0d" * 16, "account": "acct1"})
        daemon.write_config(config)
        daemon.proc.send_signal(signal.SIGHUP)
        reloading = daemon.notify.wait_for("RELOADING=1", after=before)
        self.assertIn("MONOTONIC_USEC=", reloading)
        wait_until(lambda: "event=reloaded" in daemon.logs(), what="reloaded")
        self.assertEqual(daemon.submit({"tags": ["new"], "zone": "d.example"})[0], 202)
        ready_after = [m for m in daemon.notify.messages[before:] if "READY=1" in m]
        self.assertTrue(ready_after, "READY=1 follows a reload")

        before = daemon.notify.count()
        config["batching"] = {"lingr": "1s"}
        daemon.write_config(config)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING=1", after=before)
        daemon.notify.wait_for("READY=1", after=before)
        wait_until(lambda: "event=reload_failed" in daemon.logs(), what="reload_failed")
        self.assertIn('batching.lingr: unknown key (did you mean \\"linger\\"?)', daemon.logs())
        self.assertEqual(daemon.submit({"tags": ["still"], "zone": "d.example"})[0], 202,
                         "the running config (with d.example) is kept")
        self.assertIsNone(daemon.proc.poll())

    def test_watchdog_pings_from_the_loop(self):
        daemon = DaemonFixture(self, dry_run=True)
        daemon.start(extra_env={"WATCHDOG_USEC": "400000"})
        wait_until(lambda: len(daemon.notify.seen("WATCHDOG=1")) >= 3, timeout=5,
                   what="three watchdog pings")

    def test_sigterm_loses_nothing_in_flight(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"fail_rate": 1.0, "kinds": ["slow"], "slow_seconds": 3})
        daemon = DaemonFixture(self, fake=fake).start()
        ids, urls = [], []
        for i in range(5):
            batch = [f"https://a.example/stop/{i}/{j}" for j in range(20)]
            urls += batch
            status, body = daemon.submit({"files": batch})
            self.assertEqual(status, 202)
            ids.append(body["id"])
        wait_until(lambda: fake.stats()["requests"] > 0, timeout=10, what="a request in flight")
        started = time.monotonic()
        self.assertEqual(daemon.terminate(timeout=20), 0)
        self.assertLess(time.monotonic() - started, 15)
        daemon.notify.wait_for("STOPPING=1", timeout=5)
        fake.post("/_fake/faults", {"fail_rate": 0.0})
        daemon.start()
        for intent_id in ids:
            self.assertEqual(daemon.wait_terminal(intent_id, timeout=60)["status"], "done")
        purged = fake.purged()[ZONE_A]
        for url in urls:
            self.assertIn(url, purged)
        logs = daemon.logs()
        self.assertNotIn("token-one", logs)
        self.assertNotIn("token-two", logs)

    def test_metrics_parse_and_move(self):
        daemon = DaemonFixture(self, dry_run=True).start()
        status, text = daemon.request("GET", "/metrics")
        self.assertEqual(status, 200)
        types, before = parse_metrics(text)
        for family in ("purgeq_queue_depth", "purgeq_queue_oldest_age_seconds",
                       "purgeq_items_accepted_total", "purgeq_requests_total",
                       "purgeq_items_purged_total", "purgeq_api_calls_saved_total",
                       "purgeq_rate_limited_total", "purgeq_targets_in_backoff",
                       "purgeq_account_paused", "purgeq_purge_latency_seconds"):
            self.assertIn(family, types)
        self.assertEqual(types["purgeq_purge_latency_seconds"], "histogram")
        status, body = daemon.submit({"files": ["https://a.example/m1", "https://a.example/m1",
                                                "https://a.example/m2"],
                                      "hosts": ["a.example"]})
        self.assertEqual(status, 202)
        daemon.wait_terminal(body["id"])
        _, after = parse_metrics(daemon.request("GET", "/metrics")[1])
        accepted = after["purgeq_items_accepted_total"]
        self.assertEqual(accepted['{zone="a.example",kind="file"}'], 2)
        self.assertEqual(accepted['{zone="a.example",kind="host"}'], 1)
        self.assertGreaterEqual(sum(after["purgeq_items_purged_total"].values()), 3)
        self.assertGreaterEqual(after["purgeq_api_calls_saved_total"][""], 2,
                                "the host covered both URLs")
        self.assertGreater(after["purgeq_purge_latency_seconds_count"][""],
                           before.get("purgeq_purge_latency_seconds_count", {}).get("", 0))
        for secret in ("token-one", "token-two"):
            self.assertNotIn(secret, daemon.request("GET", "/metrics")[1])
            self.assertNotIn(secret, json.dumps(daemon.request("GET", "/v1/status")[1]))

    def test_access_rule_refuses_with_403_naming_the_rule(self):
        daemon = DaemonFixture(self, dry_run=True, extra={"access": [
            {"name": "nobody-purges-everything", "kinds": ["everything"], "users": ["59999"]},
            {"name": "me-on-b", "zones": ["b.example"], "users": [str(os.getuid())]},
        ]}).start()
        status, body = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "access_denied")
        self.assertIn("nobody-purges-everything", body["error"]["message"])
        cli = daemon.cli("--zone", "a.example", "everything")
        self.assertEqual(cli.returncode, 2, cli.stdout + cli.stderr)
        self.assertIn("nobody-purges-everything", cli.stderr)
        status, body = daemon.submit({"tags": ["fine"], "zone": "a.example"})
        self.assertEqual(status, 202, "items no rule matches are allowed")
        status, body = daemon.submit({"tags": ["mine"], "zone": "b.example"})
        self.assertEqual(status, 202, "a rule naming our uid admits us")
        _, intent = daemon.intent(body["id"])
        self.assertEqual(intent["peer"]["uid"], os.getuid())
        self.assertGreater(intent["peer"]["pid"], 0)
        self.assertRegex(daemon.logs(), rf"event=intent_accepted id={body['id']} .*uid={os.getuid()}")


if __name__ == "__main__":
    unittest.main()
