"""Cost-based escalation (zones[].escalate, docs/delivery.md): with the policy on and the URL budget
binding, 500 pending URLs under an allowed prefix go out as one prefix purge, named in the receipts,
logged and counted; with the policy off, or the prefix outside the allowed list, they go out as
URLs. And receipts name the broader purge that completed their items (a purge-everything)."""

import re
import unittest

from harness import ZONE_A, DaemonFixture, FakeFixture, default_fake_config, wait_until

BLOG_URLS = [f"https://a.example/blog/post-{i}" for i in range(500)]

# A tight URL budget: 100 URL tokens in hand (one request of 100) and 100 a second, so 500
# pending URLs are more than the bucket yields within the 1 s horizon: the budget binds.
TIGHT = [dict(name="acct1", token="token-one", plan="enterprise",
              limits=dict(urls_per_second=100, max_urls_per_request=100))]


def zone_a(escalate=None):
    zone = dict(name="a.example", id=ZONE_A, account="acct1")
    if escalate is not None:
        zone["escalate"] = escalate
    return [zone]


class EscalationTest(unittest.TestCase):
    def start(self, escalate=None, accounts=TIGHT, extra=None):
        self.fake = FakeFixture(self, default_fake_config())
        self.daemon = DaemonFixture(self, fake=self.fake, accounts=accounts,
                                    zones=zone_a(escalate), extra=extra).start()
        return self.daemon

    def sent(self, kind):
        return [e for e in self.fake.requests()
                if e.get("kind") == kind and e.get("zone_id") == ZONE_A and e.get("status") == 200]

    def submit_blog(self):
        status, body = self.daemon.submit({"files": BLOG_URLS})
        self.assertEqual(status, 202, body)
        final = self.daemon.wait_terminal(body["id"], timeout=30)
        self.assertEqual(final["status"], "done", final)
        self.assertEqual(final["items"]["done"], 500)
        return final

    def test_lanes_escalate_their_own_urls_and_none_stalls(self):
        # High blog URLs escalate while a small bulk backlog of other URLs waits its turn (every
        # second request): the prefix goes in the high lane, and the bulk lane is still served
        # afterwards (a take replaced by an escalation once left its queue looking empty).
        daemon = self.start(
            accounts=[dict(name="acct1", token="token-one", plan="enterprise",
                           limits=dict(urls_per_second=10, max_urls_per_request=10))],
            escalate={"prefixes": ["a.example/blog/"], "min_urls": 100, "min_share": 0,
                      "horizon": "1s"},
            extra={"batching": {"lane_share_every": 2}})
        status, first = daemon.submit(
            {"files": [f"https://a.example/blog/a{i}" for i in range(50)], "priority": "high"})
        self.assertEqual(status, 202, first)
        status, bulk = daemon.submit(
            {"files": [f"https://a.example/shop/s{i}" for i in range(10)], "priority": "bulk"})
        self.assertEqual(status, 202, bulk)
        status, second = daemon.submit(
            {"files": [f"https://a.example/blog/b{i}" for i in range(100)], "priority": "high"})
        self.assertEqual(status, 202, second)
        for receipt in (first, second, bulk):
            final = daemon.wait_terminal(receipt["id"], timeout=30)
            self.assertEqual(final["status"], "done", final)
        escalated = [line for line in daemon.logs().splitlines() if "event=escalated" in line]
        self.assertTrue(escalated, "the high blog backlog escalated")
        self.assertTrue(all('prefix="a.example/blog/"' in line or "prefix=a.example/blog/" in line
                            for line in escalated), escalated)

    def test_policy_on_and_budget_binding_sends_one_prefix_purge(self):
        daemon = self.start(escalate={"prefixes": ["a.example/blog/", "a.example/news/"],
                                      "min_urls": 100, "min_share": 0.5, "horizon": "1s"})
        receipt = self.submit_blog()
        prefixes = self.sent("prefixes")
        self.assertEqual(len(prefixes), 1, prefixes)
        self.assertEqual(prefixes[0]["items"], ["a.example/blog/"])
        self.assertEqual(self.sent("files"), [])
        # The receipt names the escalation that completed the items.
        self.assertEqual(len(receipt["covered_by"]), 1, receipt)
        covered = receipt["covered_by"][0]
        self.assertEqual(covered["kind"], "prefix")
        self.assertEqual(covered["value"], "a.example/blog/")
        self.assertEqual(covered["items"], 500)
        self.assertIsInstance(covered["escalation"], int)
        shown = daemon.cli("show", receipt["id"])
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn(f"covered by prefix a.example/blog/ (escalation {covered['escalation']}): "
                      "500 items", shown.stdout)
        # Logged and counted.
        self.assertRegex(daemon.logs(), r"escalated.*zone=a\.example.*prefix=a\.example/blog/"
                                         r".*urls=500")
        _, metrics = daemon.request("GET", "/metrics")
        self.assertRegex(metrics, r'purgeq_escalations_total\{zone="a\.example"\} 1\b')

    def test_policy_off_sends_urls(self):
        daemon = self.start()
        receipt = self.submit_blog()
        self.assertEqual(self.sent("prefixes"), [])
        self.assertEqual(sum(e["count"] for e in self.sent("files")), 500)
        self.assertEqual(receipt["covered_by"], [])
        self.assertNotIn("escalated", daemon.logs())

    def test_prefix_outside_the_allowed_list_sends_urls(self):
        self.start(escalate={"prefixes": ["a.example/news/"], "min_urls": 100, "horizon": "1s"})
        receipt = self.submit_blog()
        self.assertEqual(self.sent("prefixes"), [])
        self.assertEqual(sum(e["count"] for e in self.sent("files")), 500)
        self.assertEqual(receipt["covered_by"], [])

    def test_budget_not_binding_sends_urls(self):
        # The default enterprise budget (3,000 URLs a second) sends 500 URLs within the horizon.
        self.start(escalate={"prefixes": ["a.example/blog/"], "min_urls": 100},
                   accounts=[dict(name="acct1", token="token-one", plan="enterprise")])
        self.submit_blog()
        self.assertEqual(self.sent("prefixes"), [])


class CoveredByEverythingTest(unittest.TestCase):
    def test_receipt_names_the_purge_everything_that_completed_it(self):
        fake = FakeFixture(self, default_fake_config())
        # The first request fails, and the account backs off for 1.5-3 s: long enough to submit a
        # purge-everything while the URLs wait in the queue.
        fake.post("/_fake/faults", {"sequence": ["500"]})
        daemon = DaemonFixture(self, fake=fake, zones=zone_a(),
                               accounts=[dict(name="acct1", token="token-one",
                                              plan="enterprise")],
                               extra={"retry": {"initial": "3s", "max": "5s"}}).start()
        status, files = daemon.submit({"files": ["https://a.example/x", "https://a.example/y"]})
        self.assertEqual(status, 202, files)
        wait_until(lambda: any(e.get("status") == 500 for e in fake.requests()), timeout=10,
                   what="the first request failed")
        status, everything = daemon.submit({"purge_everything": True, "zone": "a.example"})
        self.assertEqual(status, 202, everything)
        receipt = daemon.wait_terminal(files["id"], timeout=30)
        self.assertEqual(receipt["status"], "done", receipt)
        self.assertEqual(receipt["covered_by"], [{"kind": "everything", "items": 2}])
        shown = daemon.cli("show", files["id"])
        self.assertIn("covered by purge_everything: 2 items", shown.stdout)
        ok = [e for e in fake.requests() if e.get("status") == 200]
        self.assertEqual([e["kind"] for e in ok], ["purge_everything"], ok)


if __name__ == "__main__":
    unittest.main()
