"""Cache-key variants: a URL purged in a zone whose cache key varies on request headers is sent
once per variant, and the fake Cloudflare API's log proves each variant was purged."""

import json
import re
import subprocess
import unittest

from harness import (PURGEQD, ZONE_A, ZONE_B, DaemonFixture, FakeFixture, default_fake_config,
                     wait_until)
from fake_cloudflare import file_key

DEVICES = ["mobile", "tablet", "desktop"]


def zones(a_variants=None):
    a = dict(name="a.example", id=ZONE_A, account="acct1")
    if a_variants is not None:
        a["variants"] = a_variants
    return [a, dict(name="b.example", id=ZONE_B, account="acct1")]


def assert_contract_kept(test, fake):
    stats = fake.stats()
    test.assertEqual(stats["contract_violations"], 0, stats.get("violations"))
    test.assertEqual(stats["mixed_files"], 0, "string and object files never share a request")


class VariantsTest(unittest.TestCase):
    def daemon(self, fake, variants=None, extra=None):
        return DaemonFixture(self, fake=fake,
                             zones=zones({"CF-Device-Type": DEVICES} if variants is None
                                         else variants),
                             extra=extra).start()

    def test_one_url_intent_sends_the_three_device_variants(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = self.daemon(fake)
        url = "https://www.a.example/products/42"
        result = daemon.cli("--wait=30", "url", url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"queued 3 items as intent \w+ "
                                        r"\(1 URL expanded to 3 cache-key variants\)\n")
        self.assertIn("done: 3 purged", result.stdout)

        # The fake's log: one files request of three {url, headers} objects, one per device type.
        sent = [e for e in fake.requests() if e["kind"] == "files"]
        self.assertEqual(len(sent), 1, sent)
        self.assertEqual(sent[0]["status"], 200)
        self.assertEqual(sent[0]["zone_id"], ZONE_A)
        self.assertEqual(sorted(sent[0]["items"], key=lambda i: i["headers"]["CF-Device-Type"]),
                         sorted(({"url": url, "headers": {"CF-Device-Type": d}} for d in DEVICES),
                                key=lambda i: i["headers"]["CF-Device-Type"]))
        purged = fake.purged()[ZONE_A]
        self.assertEqual(set(purged),
                         {file_key(url, {"CF-Device-Type": d}) for d in DEVICES})
        # Every cached copy carries a device type, so the key without one is not sent.
        self.assertNotIn(url, purged)
        assert_contract_kept(self, fake)

        # A zone without variants is untouched: its URLs go as given.
        result = daemon.cli("--wait=30", "url", "https://b.example/x")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"queued 1 item as intent \w+\n")
        self.assertEqual(list(fake.purged()[ZONE_B]), ["https://b.example/x"])

    def test_variants_option_shows_the_expansion_and_queues_nothing(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = self.daemon(fake, {"CF-Device-Type": DEVICES, "Accept-Language": ["de"]})
        result = daemon.cli("url", "--variants", "https://a.example/", "https://b.example/x")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout,
                         "https://a.example/ (zone a.example): 6 variants\n"
                         "  Accept-Language: de, CF-Device-Type: mobile\n"
                         "  CF-Device-Type: mobile\n"
                         "  Accept-Language: de, CF-Device-Type: tablet\n"
                         "  CF-Device-Type: tablet\n"
                         "  Accept-Language: de, CF-Device-Type: desktop\n"
                         "  CF-Device-Type: desktop\n"
                         "https://b.example/x (zone b.example): no cache-key variants\n"
                         "7 items to purge; nothing was queued\n")
        # -H fixes a header: only the language varies.
        result = daemon.cli("url", "--variants", "--json", "https://a.example/",
                            "-H", "CF-Device-Type: tablet")
        self.assertEqual(result.returncode, 0, result.stderr)
        answer = json.loads(result.stdout)
        self.assertEqual(answer["count"], 2)
        self.assertEqual(answer["variants"], {"urls": 1, "items": 2})
        self.assertEqual(answer["items"], [
            {"zone": "a.example", "kind": "file", "value": "https://a.example/",
             "headers": {"Accept-Language": "de", "CF-Device-Type": "tablet"}},
            {"zone": "a.example", "kind": "file", "value": "https://a.example/",
             "headers": {"CF-Device-Type": "tablet"}}])
        # The same validation as a purge: a bad URL is refused with exit 2.
        result = daemon.cli("url", "--variants", "https://nowhere.test/")
        self.assertEqual(result.returncode, 2)
        self.assertIn("no configured zone owns host", result.stderr)
        # Nothing was queued or sent.
        status = daemon.cli("status", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(fake.requests(), [])
        code, body = daemon.request("GET", "/v1/expand")
        self.assertEqual(code, 405)

    def test_explicit_header_twins_merge(self):
        fake = FakeFixture(self, default_fake_config())
        # Batches wait 1.5 s, so the second intent finds the first one's target still pending.
        daemon = self.daemon(fake, extra={"batching": {"linger": "1500ms", "adaptive": False}})
        url = "https://a.example/cart"
        # In one intent: the explicit mobile purge is one of the URL's variants.
        code, receipt = daemon.submit({"files": [
            url, {"url": url, "headers": {"cf-device-type": "mobile"}}]})
        self.assertEqual(code, 202, receipt)
        self.assertEqual(receipt["items"], 3)
        self.assertEqual(receipt["variants"], {"urls": 1, "items": 3})
        # Across intents: an -H purge merges into the pending variant.
        result = daemon.cli("url", url, "-H", "CF-Device-Type: tablet")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"queued 1 item as intent \w+\n")
        second = re.search(r"intent (\w+)", result.stdout).group(1)
        wait_until(lambda: f"id={second} items=1 new_targets=0" in daemon.logs(),
                   what="the tablet purge merged into the pending variant")
        for intent_id in (receipt["id"], second):
            self.assertEqual(daemon.wait_terminal(intent_id)["status"], "done")
        purged = fake.purged()[ZONE_A]
        self.assertEqual(set(purged), {file_key(url, {"CF-Device-Type": d}) for d in DEVICES})
        for key, times in purged.items():
            self.assertEqual(len(times), 1, f"{key} was purged {len(times)} times")
        assert_contract_kept(self, fake)

    def test_variants_count_against_the_item_cap(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = self.daemon(fake, extra={"intake": {"max_items_per_intent": 5}})
        code, answer = daemon.submit({"files": ["https://a.example/1", "https://a.example/2"]})
        self.assertEqual(code, 413, answer)
        self.assertEqual(answer["error"]["code"], "too_many_items")
        self.assertIn("expands to more than 5 items", answer["error"]["message"])
        self.assertEqual(fake.requests(), [])

    def test_check_config_names_the_zone_and_the_count(self):
        fake = FakeFixture(self, default_fake_config())
        countries = ["US", "DE", "FR", "GB", "IT", "ES", "NL", "BE", "AT", "CH", "SE", "NO",
                     "DK", "FI", "PL", "CZ", "PT", "IE", "GR", "HU"]
        daemon = DaemonFixture(self, fake=fake, zones=zones(
            {"CF-Device-Type": DEVICES, "CF-IPCountry": countries, "Origin": ["https://x.test"]}))
        result = subprocess.run([PURGEQD, "--config", daemon.config_path, "--check-config"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2, result.stdout)
        self.assertIn("zones[0].variants: zone a.example would purge every URL in 120 cache-key "
                      "variants (CF-Device-Type 3 x CF-IPCountry 20 x Origin 1+1 (absent)); "
                      "at most 100 are allowed", result.stderr)


if __name__ == "__main__":
    unittest.main()
