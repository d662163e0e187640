"""What an operator sees while purges wait: an intent says why it is not done yet (account paused,
upstream failing, budget spent), status estimates how long the backlog takes, and every metric in
the exposition is documented and well-formed."""

import math
import os
import re
import shutil
import signal
import subprocess
import unittest

from harness import DaemonFixture, FakeFixture, default_fake_config, wait_until
from test_lifecycle import parse_metrics

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool")
if PROMTOOL and not os.access(PROMTOOL, os.X_OK):
    PROMTOOL = None


def waiting(daemon, intent_id, state):
    """The intent's waiting_for entries once one of them is in `state`."""
    def check():
        status, body = daemon.intent(intent_id)
        entries = body.get("waiting_for", []) if status == 200 else []
        return [e for e in entries if e.get("state") == state] and body
    return wait_until(check, timeout=20, what=f"intent {intent_id} waiting in state {state}")


class WaitingForTest(unittest.TestCase):
    def test_a_paused_account_says_since_when_why_and_how_to_resume(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"pause_auth": ["acct1"]})
        daemon = DaemonFixture(self, fake=fake).start()
        status, body = daemon.submit({"zone": "a.example", "tags": ["paused-tag"]})
        self.assertEqual(status, 202, body)
        intent = waiting(daemon, body["id"], "paused")
        # The refused batch may not be back in the queue yet when the pause shows.
        self.assertIn(intent["status"], ("queued", "in_flight"))
        entry = intent["waiting_for"][0]
        self.assertEqual(entry["zone"], "a.example")
        self.assertEqual(entry["account"], "acct1")
        self.assertIn("10000", entry["reason"])
        self.assertRegex(entry["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(entry["since_s"], int)
        self.assertIn("reload", entry["resume"])
        self.assertIsInstance(entry["next_probe_in_s"], int)
        self.assertLessEqual(entry["next_probe_in_s"], 60)
        self.assertLessEqual(entry["pending"], 1)
        # Fixed and reloaded: it goes out, and a terminal intent has nothing to wait for.
        fake.post("/_fake/faults", {"pause_auth": []})
        daemon.proc.send_signal(signal.SIGHUP)
        final = daemon.wait_terminal(body["id"], timeout=30)
        self.assertEqual(final["status"], "done")
        self.assertNotIn("waiting_for", final)

    def test_a_failing_upstream_names_the_last_error_its_age_and_the_next_attempt(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"fail_rate": 1.0, "kinds": ["502_html"]})
        daemon = DaemonFixture(self, fake=fake, extra={
            "retry": {"initial": "2s", "max": "5s", "give_up_after": "1h"}}).start()
        status, body = daemon.submit({"zone": "b.example", "hosts": ["www.b.example"]})
        self.assertEqual(status, 202, body)
        entry = waiting(daemon, body["id"], "upstream_failing")["waiting_for"][0]
        self.assertEqual(entry["account"], "acct1")
        self.assertIn("502", entry["last_error"])
        self.assertIsInstance(entry["last_error_age_s"], int)
        self.assertIsInstance(entry["next_attempt_in_s"], int)
        self.assertLessEqual(entry["next_attempt_in_s"], 5)
        self.assertGreaterEqual(entry["consecutive_failures"], 1)
        fake.post("/_fake/faults", {"fail_rate": 0.0})
        self.assertEqual(daemon.wait_terminal(body["id"], timeout=30)["status"], "done")


class StatusTest(unittest.TestCase):
    def test_nothing_about_dispatch_when_nothing_is_pending(self):
        daemon = DaemonFixture(self, dry_run=True).start()
        _, st = daemon.request("GET", "/v1/status")
        self.assertEqual(st["pending"], 0)
        self.assertNotIn("next_dispatch_in_ms", st)
        self.assertEqual(st["accounts"]["acct1"]["drain_estimate_s"], 0)

    def test_drain_estimates_and_error_ages(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"pause_auth": ["acct2"]})
        daemon = DaemonFixture(self, fake=fake).start()
        tags = [f"backlog-{i}" for i in range(1000)]
        status, body = daemon.submit({"zone": "c.example", "tags": tags})
        self.assertEqual(status, 202, body)
        waiting(daemon, body["id"], "paused")
        _, st = daemon.request("GET", "/v1/status")
        # acct2: 10 requests (100 tags each) at 10 a second paced at 97 %, and within the
        # API-wide 1,200 per 5 minutes (paced as per 301 s): the global budget binds.
        expected = math.ceil(max(10 / (10 * 0.97), 10 / (1200 / 301)))
        self.assertEqual(st["queue"]["c.example"]["drain_estimate_s"], expected)
        self.assertEqual(st["accounts"]["acct2"]["drain_estimate_s"], expected)
        self.assertIn("next_dispatch_in_ms", st)
        errors = [e for e in st["recent_errors"] if e["account"] == "acct2"]
        self.assertTrue(errors)
        self.assertIsInstance(errors[0]["age_s"], int)


class MetricsTest(unittest.TestCase):
    def test_every_metric_is_documented_and_well_formed(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = DaemonFixture(self, fake=fake).start()
        status, body = daemon.submit({"zone": "a.example", "tags": ["metric-tag"],
                                      "files": ["https://a.example/m"]})
        self.assertEqual(status, 202, body)
        self.assertEqual(daemon.wait_terminal(body["id"], timeout=30)["status"], "done")
        _, text = daemon.request("GET", "/metrics")
        types, _ = parse_metrics(text)  # the suite's strict parser, always
        families = set(types)
        with open(os.path.join(ROOT, "docs", "operations.md")) as f:
            documented = set(re.findall(r"`(purgeq_[a-z_]+)`", f.read()))
        self.assertEqual(families - documented, set(),
                         "metrics missing from docs/operations.md")
        self.assertRegex(text, r'purgeq_build_info\{version="[^"]+"\} 1')
        self.assertRegex(text, r'purgeq_requests_total\{account="acct1",outcome="success"\} [1-9]')
        self.assertRegex(text,
                         r'purgeq_request_duration_seconds_count\{account="acct1"\} [1-9]')
        self.assertRegex(text, r'purgeq_queue_oldest_age_seconds|purgeq_failed_items 0')
        if PROMTOOL:
            check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
