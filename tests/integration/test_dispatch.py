"""Dispatch: coalescing, pacing, retry and failure against the strict fake Cloudflare API."""

import math
import random
import signal
import threading
import time
import unittest

from harness import (ZONE_A, ZONE_B, ZONE_C, DaemonFixture, FakeFixture, default_fake_config,
                     wait_until)

ZONES = {"a.example": ZONE_A, "b.example": ZONE_B, "c.example": ZONE_C}
URL_CAP = {"a.example": 500, "b.example": 500, "c.example": 100}  # acct1 enterprise, acct2 business


def assert_contract_kept(test, fake):
    stats = fake.stats()
    test.assertEqual(stats["contract_violations"], 0, stats.get("violations"))
    test.assertEqual(stats["mixed_files"], 0, "string and object files never share a request")
    for entry in fake.requests():
        if entry.get("status") == 400:
            test.fail(f"a request broke the contract: {entry}")
    return stats


def burst_urls():
    """The mixed burst's unique URLs by zone: some under hosts and prefixes that a broad purge of
    the same burst may cover, most plain static files."""
    unique = {zone: [] for zone in ZONES}
    for zone, n in {"a.example": 6000, "b.example": 4500, "c.example": 4500}.items():
        for i in range(n):
            if i % 10 == 0:
                url = f"https://h{i % 5}.{zone}/img/{i}.png"   # may be covered by a host
            elif i % 10 == 1:
                url = f"https://{zone}/pfx{i % 20}/page/{i}"   # may be covered by a prefix
            else:
                url = f"https://www.{zone}/static/{i}.css?v={i % 3}"
            unique[zone].append(url)
    return unique


class BurstTest(unittest.TestCase):
    def test_mixed_burst_over_three_zones_two_accounts_is_purged_near_the_minimum(self):
        fake = FakeFixture(self, default_fake_config())
        # A linger longer than the burst takes to submit: partial batches wait for companions.
        daemon = DaemonFixture(self, fake=fake, extra={"batching": {"linger": "1500ms"}}).start()
        rng = random.Random(42)
        unique = burst_urls()
        # 25 % duplicates: 5,000 of the 20,000 URL items repeat another item of the same intent
        # chunk (a deploy piping the same changed files twice).
        chunks = []
        for zone, urls in unique.items():
            for start in range(0, len(urls), 750):
                part = urls[start:start + 750]
                dups = [rng.choice(part) for _ in range(len(part) // 3)]
                items = part + dups
                rng.shuffle(items)
                chunks.append((zone, items))
        url_items = sum(len(items) for _, items in chunks)
        total_unique = sum(len(u) for u in unique.values())
        self.assertGreaterEqual(url_items, 20000)
        self.assertAlmostEqual((url_items - total_unique) / url_items, 0.25, delta=0.01)
        tags = {zone: [f"tag-{zone}-{i}" for i in range(n)]
                for zone, n in (("a.example", 200), ("b.example", 150), ("c.example", 150))}
        hosts = {"a.example": ["h0.a.example", "h1.a.example"], "b.example": ["h0.b.example"],
                 "c.example": ["h0.c.example", "h1.c.example"]}
        prefixes = {zone: [f"{zone}/pfx{k}/" for k in range(k0, k0 + n)]
                    for zone, k0, n in (("a.example", 0, 8), ("b.example", 0, 6),
                                        ("c.example", 0, 6))}

        ids = []
        submitted_at = time.monotonic()
        lock = threading.Lock()

        def submit(body):
            status, answer = daemon.submit(body)
            self.assertEqual(status, 202, answer)
            with lock:
                ids.append(answer["id"])

        threads = [threading.Thread(target=submit, args=({"files": items, "zone": zone},))
                   for zone, items in chunks]
        threads += [threading.Thread(target=submit, args=({"tags": t, "zone": zone},))
                    for zone, t in tags.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The broad purges come last, so everything they cover is already pending.
        for zone in ZONES:
            submit({"hosts": hosts[zone], "prefixes": prefixes[zone], "zone": zone})
        burst_seconds = time.monotonic() - submitted_at

        for intent_id in ids:
            self.assertEqual(daemon.wait_terminal(intent_id, timeout=120)["status"], "done")
        stats = assert_contract_kept(self, fake)

        # Minimum requests the caps allow for what had to be named in a request.
        def covered(zone, url):
            rest = url.split("://", 1)[1]
            host = rest.split("/", 1)[0]
            path = rest.split("?", 1)[0]
            return host in hosts[zone] or any(path.startswith(p) for p in prefixes[zone])

        minimum = 0
        for zone in ZONES:
            needed = sum(1 for u in unique[zone] if not covered(zone, u))
            minimum += math.ceil(needed / URL_CAP[zone])
            minimum += math.ceil(len(tags[zone]) / 100)
            minimum += math.ceil(len(hosts[zone]) / 100) + math.ceil(len(prefixes[zone]) / 100)
        sent = stats["accepted"]
        print(f"\nburst: {url_items} URL items ({total_unique} unique) + 500 tags + 20 prefixes "
              f"+ 5 hosts submitted in {burst_seconds:.1f}s; {sent} requests accepted, minimum "
              f"{minimum} ({100 * (sent - minimum) / minimum:+.1f}%), 429s: "
              f"{stats['rate_limited']}")
        self.assertLessEqual(sent, math.floor(minimum * 1.05))

        # Every item was purged, after it was submitted, by a request naming or covering it.
        purged = fake.get("/_fake/purged")
        for zone, urls in unique.items():
            zone_purged = purged[ZONES[zone]]
            for url in urls:
                if not covered(zone, url):
                    self.assertIn(url, zone_purged)
                    self.assertGreaterEqual(min(zone_purged[url]), submitted_at)
            for tag in tags[zone]:
                self.assertIn("tag:" + tag.lower(), zone_purged)
            for host in hosts[zone]:
                self.assertIn("host:" + host, zone_purged)
            for prefix in prefixes[zone]:
                self.assertIn("prefix:" + prefix, zone_purged)
        # Across hosts the counts of /v1/status are the database's as of this host's last
        # commit or claim round (at least every second, docs/scale-out.md), not of the last
        # purge another host made.
        wait_until(lambda: daemon.request("GET", "/v1/status")[1]["pending"] == 0, timeout=10,
                   what="no item pending in /v1/status")


class FaultTest(unittest.TestCase):
    def tight_setup(self, faults):
        tight = {"acct1": dict(rate=5, burst=5, urls_per_second=400, url_burst=500),
                 "acct2": dict(rate=5, burst=5, urls_per_second=200, url_burst=200)}
        fake = FakeFixture(self, default_fake_config(**tight))
        fake.post("/_fake/faults", faults)
        accounts = [
            dict(name="acct1", token="token-one", plan="enterprise",
                 limits=dict(requests_per_second=5, burst=5, urls_per_second=400,
                             max_urls_per_request=500)),
            dict(name="acct2", token="token-two", plan="business",
                 limits=dict(requests_per_second=5, burst=5, urls_per_second=200,
                             max_urls_per_request=100)),
        ]
        daemon = DaemonFixture(self, fake=fake, accounts=accounts,
                               extra={"retry": {"initial": "100ms", "max": "1s"}}).start()
        return fake, daemon

    def test_twenty_percent_failures_and_tight_buckets_still_purge_everything(self):
        fake, daemon = self.tight_setup({"fail_rate": 0.2, "seed": 3,
                                         "kinds": ["500", "502_html", "drop", "lost_response"]})
        ids, urls = [], []
        for i in range(40):
            zone = ("a.example", "b.example", "c.example")[i % 3]
            batch = [f"https://{zone}/f/{i}/{j}" for j in range(50)]
            urls += [(zone, u) for u in batch]
            status, body = daemon.submit({"files": batch, "tags": [f"t{i}-{k}" for k in range(5)],
                                          "zone": zone})
            self.assertEqual(status, 202)
            ids.append(body["id"])
        for intent_id in ids:
            self.assertEqual(daemon.wait_terminal(intent_id, timeout=120)["status"], "done")
        stats = assert_contract_kept(self, fake)
        purged = fake.purged()
        for zone, url in urls:
            self.assertIn(url, purged[ZONES[zone]])
        faults = sum(stats["faults"].values())
        print(f"\nfaults injected: {stats['faults']}; requests {stats['requests']}, "
              f"429s {stats['rate_limited']}")
        self.assertGreater(faults, 0)
        # Pacing mirrors the buckets, so a 429 comes only from libcurl resending a request once
        # when a reused keep-alive connection dies without an answer (drop, lost_response): the
        # fake then sees two requests for one of ours. Nothing else may trip the limits.
        dropped = stats["faults"].get("drop", 0) + stats["faults"].get("lost_response", 0)
        self.assertLessEqual(stats["rate_limited"], dropped + 1, "pacing keeps 429 the exception")
        _, metrics = daemon.request("GET", "/metrics")
        self.assertRegex(metrics, r'purgeq_requests_total\{account="[^"]+",outcome="success"\}')
        self.assertRegex(metrics, r'purgeq_requests_total\{account="[^"]+",outcome="(server|transport)_error"\} [1-9]')

    def test_poison_item_is_isolated_by_bisection(self):
        fake, daemon = self.tight_setup({"refuse_items": ["https://a.example/poison"]})
        batch = [f"https://a.example/ok/{j}" for j in range(299)] + ["https://a.example/poison"]
        status, body = daemon.submit({"files": batch})
        self.assertEqual(status, 202)
        final = daemon.wait_terminal(body["id"], timeout=60)
        self.assertEqual(final["status"], "partial")
        self.assertEqual(final["items"]["done"], 299)
        self.assertEqual(final["items"]["failed"], 1)
        error = final["errors"][0]
        self.assertEqual(error["item"], "https://a.example/poison")
        self.assertGreaterEqual(error["code"], 1000)
        self.assertIn("poison", error["message"])
        purged = fake.purged()[ZONE_A]
        self.assertNotIn("https://a.example/poison", purged)
        self.assertEqual(sum(1 for u in purged if u.startswith("https://a.example/ok/")), 299)
        self.assertLessEqual(fake.stats()["requests"], 2 * math.ceil(math.log2(300)) + 2)
        failed = daemon.cli("failed")
        self.assertEqual(failed.returncode, 0)
        self.assertIn("https://a.example/poison", failed.stdout)
        waited = daemon.cli("wait", body["id"], "--timeout", "5")
        self.assertEqual(waited.returncode, 1, waited.stdout)

    def test_rate_limit_is_honoured(self):
        fake, daemon = self.tight_setup(
            {"force_status": {"status": 429, "count": 1, "retry_after": 2}})
        status, body = daemon.submit({"tags": ["only"], "zone": "a.example"})
        self.assertEqual(status, 202)
        self.assertEqual(daemon.wait_terminal(body["id"], timeout=30)["status"], "done")
        log = [e for e in fake.requests() if e.get("zone_id") == ZONE_A]
        self.assertEqual(log[0]["status"], 429)
        self.assertEqual(log[1]["status"], 200)
        self.assertGreaterEqual(log[1]["received"] - log[0]["received"], 1.9,
                                "the retry waited for Retry-After")

    def test_auth_error_pauses_the_account_and_reload_resumes_it(self):
        fake, daemon = self.tight_setup({"force_status": {"status": 403, "count": None,
                                                          "accounts": ["acct2"]}})
        status, body = daemon.submit({"files": ["https://c.example/x"]})
        self.assertEqual(status, 202)
        ok_status, ok = daemon.submit({"files": ["https://a.example/x"]})
        self.assertEqual(daemon.wait_terminal(ok["id"], timeout=30)["status"], "done",
                         "other accounts keep going")

        def paused():
            _, st = daemon.request("GET", "/v1/status")
            return st["accounts"]["acct2"]["paused"] and st
        st = wait_until(paused, timeout=20, what="acct2 paused")
        self.assertIn("403", st["accounts"]["acct2"]["pause_reason"])
        self.assertIn("event=account_paused", daemon.logs())
        time.sleep(0.5)
        self.assertEqual(daemon.intent(body["id"])[1]["status"], "queued", "nothing dropped")
        fake.post("/_fake/faults", {"force_status": None})
        daemon.proc.send_signal(signal.SIGHUP)
        self.assertEqual(daemon.wait_terminal(body["id"], timeout=30)["status"], "done")
        self.assertNotIn("token-two", daemon.logs())

    def test_give_up_then_retry_failed(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"fail_rate": 1.0, "kinds": ["500"]})
        daemon = DaemonFixture(self, fake=fake, extra={
            "retry": {"initial": "100ms", "max": "300ms", "give_up_after": "2s"}}).start()
        status, body = daemon.submit({"tags": ["doomed"], "zone": "b.example"})
        self.assertEqual(status, 202)
        final = daemon.wait_terminal(body["id"], timeout=40)
        self.assertEqual(final["status"], "failed")
        self.assertIn("gave up", final["errors"][0]["message"])
        fake.post("/_fake/faults", {"fail_rate": 0.0})
        retried = daemon.cli("retry-failed")
        self.assertEqual(retried.returncode, 0, retried.stderr)
        self.assertEqual(daemon.wait_terminal(body["id"], timeout=30)["status"], "done")


if __name__ == "__main__":
    unittest.main()
