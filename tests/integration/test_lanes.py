"""Priority lanes through the real daemon against the fake Cloudflare API (docs/delivery.md,
"Priority lanes"): a high intent behind a 100k-URL normal backlog that saturates acct1's URL
budget is purged within one linger plus a second; the backlog then drains at the full rate; a bulk
intent submitted while normal is busy gets at least its guaranteed share of the requests. Also
where an intent's lane comes from: the body, an access rule, an API client."""

import http.client
import json
import os
import socket
import threading
import time
import unittest

from harness import ZONE_A, DaemonFixture, FakeFixture, default_fake_config, wait_until

# acct1's URL budget, tight enough that 100k URLs are a backlog of ~20 s (ten full requests a
# second) and loose enough that the test stays short.
URLS_PER_SECOND = 5000
BATCH = 500
PACED = URLS_PER_SECOND * 0.97  # the daemon's pacing margin (dispatcher.cpp, kPacingMargin)
LINGER_S = 0.1
SHARE_EVERY = 10  # batching.lane_share_every's default


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lane_of(url):
    return {"n": "normal", "h": "high", "b": "bulk"}[url.split("/")[3]]


class LanesTest(unittest.TestCase):
    def setUp(self):
        tight = {"acct1": dict(urls_per_second=URLS_PER_SECOND, url_burst=URLS_PER_SECOND,
                               max_urls=BATCH)}
        self.fake = FakeFixture(self, default_fake_config(**tight))
        accounts = [
            dict(name="acct1", token="token-one", plan="enterprise",
                 limits=dict(urls_per_second=URLS_PER_SECOND, max_urls_per_request=BATCH)),
            dict(name="acct2", token="token-two", plan="business"),
        ]
        self.daemon = DaemonFixture(self, fake=self.fake, accounts=accounts,
                                    extra={"batching": {"linger": f"{int(LINGER_S * 1000)}ms"}})
        self.daemon.start()

    def fill_normal(self, total, chunk=5000):
        """Submits `total` normal URLs to a.example from two threads, in chunks."""
        errors = []

        def part(first):
            for start in range(first * chunk, total, 2 * chunk):
                batch = [f"https://a.example/n/{i}" for i in range(start, min(total, start + chunk))]
                code, body = self.daemon.submit({"files": batch})
                if code != 202:
                    errors.append(body)
                    return

        threads = [threading.Thread(target=part, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def url_requests(self, since_time, until_time):
        """Accepted files requests to a.example answered within [since, until)."""
        return [e for e in self.fake.requests()
                if e["zone_id"] == ZONE_A and e["kind"] == "files" and e["status"] == 200
                and since_time <= e["time"] < until_time]

    def test_high_jumps_a_saturating_normal_backlog_and_bulk_gets_its_share(self):
        started = time.monotonic()
        self.fill_normal(100_000)
        # Saturated: the initial burst is spent and full requests go at the budget's pace, most
        # of the backlog still pending.
        def saturated():
            _, st = self.daemon.request("GET", "/v1/status")
            return st["accounts"]["acct1"]["url_tokens"] < BATCH and st
        wait_until(saturated, timeout=20, what="the URL budget spent by the normal backlog")
        time.sleep(2.0)
        before_end = time.monotonic()
        before = self.url_requests(before_end - 2.0, before_end)
        _, status = self.daemon.request("GET", "/v1/status")
        self.assertGreater(status["pending_by_lane"]["normal"], 50_000, status)

        # A deploy's 10 URLs through the CLI.
        high = [f"https://a.example/h/{i}" for i in range(10)]
        submitted = time.monotonic()
        run = self.daemon.cli("--priority", "high", "url", *high)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("(priority high)", run.stdout)
        intent_id = run.stdout.split("intent ")[1].split()[0]
        final = self.daemon.wait_terminal(intent_id, timeout=30)
        self.assertEqual(final["status"], "done")
        self.assertEqual(final["priority"], "high")
        purged = self.fake.purged()[ZONE_A]
        latency = max(max(purged[url]) for url in high) - submitted
        print(f"\nhigh intent of 10 purged {latency * 1000:.0f} ms after submission, "
              f"behind {status['pending_by_lane']['normal']} normal URLs")
        self.assertLess(latency, LINGER_S + 1.0, "within one linger plus a second")
        _, still = self.daemon.request("GET", "/v1/status")
        self.assertGreater(still["pending_by_lane"]["normal"], 30_000,
                           "purged before the backlog, not after it")

        # The backlog keeps draining at the full rate afterwards.
        after_start = time.monotonic() + 0.2
        time.sleep(2.2)
        after = self.url_requests(after_start, after_start + 2.0)
        rate_before = sum(e["count"] for e in before) / 2.0
        rate_after = sum(e["count"] for e in after) / 2.0
        print(f"normal drain: {rate_before:.0f} URLs/s before, {rate_after:.0f} URLs/s after "
              f"(budget {PACED:.0f})")
        self.assertGreater(rate_before, 0.8 * PACED, "the backlog saturated the budget")
        self.assertGreater(rate_after, 0.8 * PACED)
        self.assertGreater(rate_after, 0.8 * rate_before)
        self.assertTrue(all(e["count"] == BATCH for e in after), "full batches")

        # A bulk crawl while normal is busy: at least one request in SHARE_EVERY, normal first.
        bulk = [f"https://a.example/b/{i}" for i in range(10_000)]
        code, body = self.daemon.submit({"files": bulk, "priority": "bulk"})
        self.assertEqual(code, 202, body)
        self.assertEqual(body["priority"], "bulk")
        # Its receipt says what it waits for: the normal backlog goes first.
        _, waiting = self.daemon.intent(body["id"])
        self.assertGreater(waiting["waiting_for"][0].get("ahead_in_higher_lanes", 0), 0, waiting)
        window_start = time.monotonic() + 0.3
        time.sleep(4.3)
        window = self.url_requests(window_start, window_start + 4.0)
        lanes = [{lane_of(url) for url in e["items"]} for e in window]
        self.assertTrue(all(len(l) == 1 for l in lanes), "a request carries one lane")
        bulk_requests = sum(1 for l in lanes if l == {"bulk"})
        normal_requests = sum(1 for l in lanes if l == {"normal"})
        print(f"while normal is busy: {normal_requests} normal and {bulk_requests} bulk requests")
        _, later = self.daemon.request("GET", "/v1/status")
        self.assertGreater(later["pending_by_lane"]["normal"], 0, "normal was busy all along")
        self.assertGreater(later["pending_by_lane"]["bulk"], 0, "bulk did not jump normal")
        self.assertGreaterEqual(bulk_requests, len(window) // SHARE_EVERY - 1)
        self.assertGreaterEqual(bulk_requests, 2)
        self.assertGreater(normal_requests, 3 * bulk_requests, "normal keeps its priority")

        _, metrics = self.daemon.request("GET", "/metrics")
        self.assertRegex(metrics, r'purgeq_queue_lane_depth\{lane="normal"\} [1-9]')
        self.assertRegex(metrics, r'purgeq_queue_lane_depth\{lane="high"\} 0')
        self.assertRegex(self.daemon.logs(), r"event=batch_sent .*lane=high")
        shown = self.daemon.cli("show", intent_id)
        self.assertIn("priority high", shown.stdout)
        self.assertEqual(self.fake.stats()["rate_limited"], 0, "lanes never break the pacing")


class LaneDefaultsTest(unittest.TestCase):
    def test_access_rules_and_api_clients_give_the_default_lane_and_the_body_wins(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = DaemonFixture(self, fake=fake)
        port = free_port()
        token = "client-token-crawler-0123456789"
        token_file = os.path.join(daemon.dir, "crawler.client-token")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        config = dict(daemon.config)
        me = str(os.getuid())
        config["access"] = [{"name": "mine", "users": [me], "kinds": ["tag"], "priority": "bulk"}]
        config["tcp"] = {"listen": f"127.0.0.1:{port}"}
        config["api_clients"] = [{"name": "crawler", "token_file": token_file,
                                  "priority": "bulk"}]
        daemon.config = config
        daemon.write_config()
        daemon.start()

        def lane(body):
            code, answer = daemon.submit(body)
            self.assertEqual(code, 202, answer)
            return daemon.intent(answer["id"])[1]["priority"]

        self.assertEqual(lane({"tags": ["t1"], "zone": "a.example"}), "bulk", "the rule's lane")
        self.assertEqual(lane({"tags": ["t2"], "zone": "a.example", "priority": "high"}), "high",
                         "the body wins")
        self.assertEqual(lane({"files": ["https://a.example/x"]}), "normal",
                         "no rule with a lane matches files")
        code, answer = daemon.submit({"tags": ["t3"], "zone": "a.example", "priority": "urgent"})
        self.assertEqual(code, 400)
        self.assertEqual(answer["error"]["code"], "invalid_priority")
        self.assertIn('"priority" must be one of high, normal or bulk', answer["error"]["message"])

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                         body=json.dumps({"files": ["https://a.example/tcp"]}),
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        self.assertTrue(answer["success"], answer)
        _, intent = daemon.intent(answer["result"]["id"])
        self.assertEqual(intent["priority"], "bulk", "the API client's lane")


if __name__ == "__main__":
    unittest.main()
