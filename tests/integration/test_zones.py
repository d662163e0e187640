"""Zones by name (docs/configuration.md, "Zones by name"): purgeqd finds each zone's id and plan
with the account's token, keeps them in its database for outages, and refuses to start on a zone
or token Cloudflare says no to."""

import subprocess
import unittest

from harness import (PURGEQD, DaemonFixture, FakeFixture, ZONE_A, ZONE_C, default_fake_config,
                     wait_until)


def fake_config():
    """acct1's zones are on the business plan, acct2's on free (the fake's plan defaults)."""
    config = default_fake_config()
    for account in config["accounts"]:
        for key in ("rate", "burst", "urls_per_second", "url_burst", "max_ops", "max_urls"):
            account.pop(key, None)
        account["plan"] = "business" if account["name"] == "acct1" else "free"
    return config


NAMES_ONLY_ACCOUNTS = [dict(name="acct1", token="token-one"), dict(name="acct2", token="token-two")]
NAMES_ONLY_ZONES = [
    dict(name="a.example", account="acct1"),
    dict(name="b.example", account="acct1"),
    dict(name="c.example", account="acct2"),
]


def names_only(test, fake, zones=None, accounts=None):
    # Copies: a test may change its daemon's config.
    return DaemonFixture(test, fake=fake,
                         accounts=[dict(a) for a in accounts or NAMES_ONLY_ACCOUNTS],
                         zones=[dict(z) for z in zones or NAMES_ONLY_ZONES])


def status_of(daemon):
    status, body = daemon.request("GET", "/v1/status")
    assert status == 200, body
    return body


def waiting_unresolved(daemon, intent_id):
    def check():
        status, body = daemon.intent(intent_id)
        entries = body.get("waiting_for", []) if status == 200 else []
        return [e for e in entries if e.get("state") == "zone_unresolved"] and body
    return wait_until(check, timeout=10, what=f"intent {intent_id} waiting for its zone's id")


class ZonesByNameTest(unittest.TestCase):
    def test_names_only_are_resolved_paced_by_their_plans_and_delivered(self):
        fake = FakeFixture(self, fake_config())
        daemon = names_only(self, fake).start()
        body = status_of(daemon)
        self.assertEqual(body["accounts"]["acct1"]["plan"], "business", body["accounts"])
        self.assertEqual(body["accounts"]["acct1"]["plan_source"], "cloudflare")
        self.assertEqual(body["accounts"]["acct2"]["plan"], "free")
        zone = body["zones"]["a.example"]
        self.assertEqual((zone["id"], zone["account"], zone["plan"], zone["source"]),
                         (ZONE_A, "acct1", "business", "cloudflare"), zone)
        self.assertGreater(zone["resolved_at_ms"], 0)
        self.assertEqual(body["zones"]["c.example"]["id"], ZONE_C)
        wait_until(lambda: status_of(daemon)["accounts"]["acct2"].get("token") == "verified",
                   timeout=5, what="acct2's token checked")
        status, intent = daemon.submit({"files": ["https://a.example/x", "https://c.example/y"]})
        self.assertEqual(status, 202, intent)
        self.assertEqual(daemon.wait_terminal(intent["id"], timeout=20)["status"], "done")
        purged = fake.purged()
        self.assertIn("https://a.example/x", str(purged[ZONE_A]))
        self.assertIn("https://c.example/y", str(purged[ZONE_C]))
        stats = fake.stats()
        self.assertEqual(stats["contract_violations"], 0, stats["violations"])
        self.assertEqual(stats["rate_limited"], 0)
        kinds = {e["kind"] for e in fake.requests()}
        self.assertIn("zone_list", kinds)
        self.assertIn("token_verify", kinds)

    def test_a_burst_over_both_plans_keeps_to_the_free_bucket_without_a_429(self):
        """3,000 URLs over every zone, then 28 requests' worth of distinct tags on the free zone:
        the free account's bucket (25, refilling 5 a minute) lets 25 go at once and each of the
        last 3 after its refill, and the daemon learned that from the plan alone."""
        fake = FakeFixture(self, fake_config())
        daemon = names_only(self, fake).start()
        self.assertEqual(status_of(daemon)["accounts"]["acct2"]["plan"], "free")
        zones = [z["name"] for z in NAMES_ONLY_ZONES]
        urls = [f"https://{zones[i % len(zones)]}/burst/{i}" for i in range(3000)]
        intents = []
        for start in range(0, len(urls), 500):
            status, intent = daemon.submit({"files": urls[start:start + 500]})
            self.assertEqual(status, 202, intent)
            intents.append(intent["id"])
        free_tags_per_request = 100  # PLANS["free"]["max_ops"]
        tags = [f"burst-tag-{i}" for i in range(28 * free_tags_per_request)]
        for start in range(0, len(tags), 400):
            status, intent = daemon.submit({"tags": tags[start:start + 400], "zone": "c.example"})
            self.assertEqual(status, 202, intent)
            intents.append(intent["id"])
        for intent_id in intents:
            self.assertEqual(daemon.wait_terminal(intent_id, timeout=120)["status"], "done")

        stats = fake.stats()
        self.assertEqual(stats["rate_limited"], 0, stats)
        self.assertEqual(stats["contract_violations"], 0, stats["violations"])
        purged = fake.purged()
        tag_requests = sorted(e["time"] for e in fake.requests()
                              if e["kind"] == "tags" and e["zone_id"] == ZONE_C and e["purged"])
        self.assertEqual(len(tag_requests), 28)
        # The 26th request waited for a refill (12 s at 5 a minute), and so did each after it.
        for later in range(25, 28):
            self.assertGreaterEqual(tag_requests[later] - tag_requests[0],
                                    (later - 24) * 12.0 - 0.5, tag_requests)
        self.assertEqual(len(purged[ZONE_C]), 1000 + len(tags))

    def test_unreachable_at_first_start_accepts_holds_and_delivers_once_resolved(self):
        fake = FakeFixture(self, fake_config())
        fake.post("/_fake/faults", {"lookup_status": 502})
        daemon = names_only(self, fake).start()
        status, intent = daemon.submit({"files": ["https://a.example/held"]})
        self.assertEqual(status, 202, intent)
        held = waiting_unresolved(daemon, intent["id"])
        self.assertEqual(held["status"], "queued")
        entry = [e for e in held["waiting_for"] if e["state"] == "zone_unresolved"][0]
        self.assertEqual((entry["zone"], entry["account"], entry["pending"]),
                         ("a.example", "acct1", 1))
        self.assertIn("502", entry["reason"])
        zone = status_of(daemon)["zones"]["a.example"]
        self.assertIsNone(zone["id"])
        self.assertEqual(zone["source"], "unresolved")
        self.assertIn("502", zone["lookup_error"])
        self.assertEqual(fake.purged().get(ZONE_A), {})
        fake.post("/_fake/faults", {"lookup_status": None})
        self.assertEqual(daemon.wait_terminal(intent["id"], timeout=20)["status"], "done")
        self.assertEqual(status_of(daemon)["zones"]["a.example"]["source"], "cloudflare")

    def test_a_restart_while_the_api_is_down_uses_the_stored_resolution(self):
        fake = FakeFixture(self, fake_config())
        daemon = names_only(self, fake).start()
        before = status_of(daemon)
        daemon.kill9()
        fake.post("/_fake/faults", {"lookup_status": 502})
        daemon.start()
        after = status_of(daemon)
        self.assertEqual(after["accounts"]["acct1"]["plan"], "business")
        self.assertEqual(after["accounts"]["acct2"]["plan"], "free")
        for name in ("a.example", "c.example"):
            self.assertEqual(after["zones"][name]["id"], before["zones"][name]["id"])
            self.assertEqual(after["zones"][name]["source"], "stored")
        status, intent = daemon.submit({"files": ["https://a.example/after-restart"]})
        self.assertEqual(status, 202, intent)
        self.assertEqual(daemon.wait_terminal(intent["id"], timeout=20)["status"], "done")

    def test_a_bad_token_or_an_unknown_zone_stops_a_first_start_naming_it(self):
        fake = FakeFixture(self, fake_config())
        bad_token = names_only(self, fake, accounts=[dict(name="acct1", token="token-one"),
                                                     dict(name="acct2", token="not-a-token")])
        bad_token.start(wait=False)
        self.assertEqual(bad_token.proc.wait(timeout=20), 2, bad_token.logs())
        self.assertIn("c.example", bad_token.logs())
        self.assertIn("acct2", bad_token.logs())
        self.assertIn("Invalid API Token", bad_token.logs())

        unknown = names_only(self, fake, zones=NAMES_ONLY_ZONES + [
            dict(name="unknown.example", account="acct1")])
        unknown.start(wait=False)
        self.assertEqual(unknown.proc.wait(timeout=20), 2, unknown.logs())
        self.assertIn("zone unknown.example", unknown.logs())
        self.assertNotIn("zone a.example", unknown.logs())

    def test_a_plan_change_is_picked_up_by_the_refresh_at_reload(self):
        fake = FakeFixture(self, fake_config())
        daemon = names_only(self, fake).start()
        self.assertEqual(status_of(daemon)["accounts"]["acct2"]["plan"], "free")
        fake.post("/_fake/accounts/acct2", {"plan": "pro"})
        daemon.proc.send_signal(1)  # SIGHUP: reload, which refreshes every zone
        wait_until(lambda: status_of(daemon)["accounts"]["acct2"]["plan"] == "pro", timeout=10,
                   what="acct2 paced as pro")
        self.assertEqual(status_of(daemon)["zones"]["c.example"]["plan"], "pro")


    def test_check_config_online_reports_each_zone_and_refuses_an_unknown_one(self):
        fake = FakeFixture(self, fake_config())
        daemon = names_only(self, fake)

        def check():
            return subprocess.run([PURGEQD, "--config", daemon.config_path, "--check-config",
                                   "--online"], capture_output=True, text=True, timeout=30)
        result = check()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(f"zone a.example: id {ZONE_A} (cloudflare), account acct1, plan business",
                      result.stdout)
        self.assertIn("account acct2: paced as free (cloudflare)", result.stdout)
        daemon.config["zones"].append(dict(name="unknown.example", account="acct2"))
        daemon.write_config()
        result = check()
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("zone unknown.example (account acct2", result.stderr)
        fake.post("/_fake/faults", {"lookup_status": 502})
        result = check()
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("could not be reached", result.stderr)


if __name__ == "__main__":
    unittest.main()
