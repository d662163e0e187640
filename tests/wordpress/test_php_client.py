"""The PHP client (integrations/php) against a real purgeqd and the fake Cloudflare API: every
item kind, priority, ?wait=, status and expand over the Unix socket; purges over the TCP
listener with a client token; bounded timeouts; typed errors carrying the API's code.

Run: cd tests/wordpress && python3 -m unittest -v test_php_client
"""

import json
import os
import signal
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import ZONE_A, ZONE_B, ZONE_C, DaemonFixture, FakeFixture  # noqa: E402
from wp_site import PHP, free_port, require_wordpress  # noqa: E402

DRIVER = os.path.join(HERE, "client_driver.php")
TOKEN = "client-token-for-the-php-tests-0123456789"
ZONES = [
    dict(name="a.example", id=ZONE_A, account="acct1",
         everything=dict(min_interval="60s", within="refuse")),
    dict(name="b.example", id=ZONE_B, account="acct1"),
    dict(name="c.example", id=ZONE_C, account="acct2"),
]


class ClientCase(unittest.TestCase):
    def setUp(self):
        require_wordpress()  # PHP's CLI, from the same packages
        self.fake = FakeFixture(self)
        self.port = free_port()
        self.daemon = DaemonFixture(self, fake=self.fake, zones=ZONES)
        token_file = os.path.join(self.daemon.dir, "php-client.token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.daemon.config["tcp"] = {"listen": f"127.0.0.1:{self.port}"}
        self.daemon.config["api_clients"] = [{"name": "php", "token_file": token_file,
                                              "priority": "bulk"}]
        self.daemon.write_config()
        self.daemon.start()

    def php(self, code):
        """Runs `code` with $unix and $tcp clients; returns the driver's answer."""
        prelude = (f"$unix = Purgeq\\Client::unix({json.dumps(self.daemon.socket_path)}, 5.0);\n"
                   f"$tcp = Purgeq\\Client::tcp('http://127.0.0.1:{self.port}', '{TOKEN}', '{ZONE_A}', 5.0);\n")
        result = subprocess.run([PHP, DRIVER], input=prelude + code, capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"client driver exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def ok(self, code):
        answer = self.php(code)
        self.assertIsNone(answer["exception"], answer["exception"])
        return answer["result"]

    def error(self, code, cls):
        answer = self.php(code)
        self.assertIsNotNone(answer["exception"], f"no exception; result {answer['result']}")
        self.assertEqual(answer["exception"]["class"], cls, answer["exception"])
        self.assertTrue(answer["exception"]["purgeq"], "every client error is a PurgeqException")
        return answer["exception"]


class UnixSocket(ClientCase):
    def test_every_kind_with_priority_then_wait_until_done(self):
        receipt = self.ok("""
            $r = $unix->purge(['files' => ['https://img.a.example/logo.png', 'https://www.a.example/blog/post',
                                           ['url' => 'https://www.a.example/', 'headers' => ['CF-Device-Type' => 'mobile']]],
                               'tags' => ['product-1', 'product-2'], 'hosts' => ['img.a.example'],
                               'prefixes' => ['www.a.example/blog/'], 'zone' => 'a.example', 'priority' => 'high']);
            return ['ids' => $r->ids, 'id' => $r->id(), 'items' => $r->items, 'priority' => $r->priority];
        """)
        self.assertEqual(receipt["items"], 7)
        self.assertEqual(receipt["priority"], "high")
        self.assertEqual(receipt["ids"], [receipt["id"]])
        state = self.ok(f"return $unix->wait('{receipt['id']}', 30);")
        self.assertEqual(state["status"], "done")
        self.assertEqual(state["items"]["done"], 7)
        purged = self.fake.purged()[ZONE_A]
        for key in ("tag:product-1", "tag:product-2", "host:img.a.example", "prefix:www.a.example/blog/",
                    'https://www.a.example/ {"cf-device-type":"mobile"}'):
            self.assertIn(key, purged)
        # The file under the host and the prefix were covered by them (docs/delivery.md).
        self.assertEqual({c["kind"] for c in state["covered_by"]}, {"host", "prefix"})

    def test_intent_with_wait_status_and_expand(self):
        answer = self.ok("""
            $r = $unix->purge(['files' => ['https://www.b.example/x'], 'priority' => 'bulk']);
            $state = $unix->intent($r->id(), 10);
            $status = $unix->status();
            $expanded = $unix->expand(['files' => ['https://www.c.example/y']]);
            return ['state' => $state, 'status' => $status, 'expanded' => $expanded];
        """)
        self.assertEqual(answer["state"]["status"], "done")
        self.assertEqual(answer["state"]["priority"], "bulk")
        self.assertEqual(answer["status"]["pending_by_lane"], {"high": 0, "normal": 0, "bulk": 0})
        self.assertEqual(sorted(answer["status"]["accounts"]), ["acct1", "acct2"])
        self.assertEqual(answer["expanded"]["items"], [{"zone": "c.example", "kind": "file",
                                                        "value": "https://www.c.example/y"}])

    def test_api_errors_carry_code_message_item_and_retry_after(self):
        error = self.error("$unix->purge(['files' => ['https://nowhere.example/x']]);", "Purgeq\\ApiException")
        self.assertEqual(error["httpStatus"], 400)
        self.assertEqual(error["errorCode"], "no_zone_for_host")
        self.assertEqual(error["item"], "https://nowhere.example/x")
        self.assertIn("nowhere.example", error["message"])
        error = self.error("$unix->purge(['tags' => ['x']]);", "Purgeq\\ApiException")
        self.assertEqual(error["errorCode"], "zone_required")
        # The purge-everything guard: the second within a minute is refused with Retry-After.
        self.ok("$unix->wait($unix->purge(['purge_everything' => true, 'zone' => 'a.example'])->id(), 30); return 1;")
        error = self.error("$unix->purge(['purge_everything' => true, 'zone' => 'a.example']);", "Purgeq\\ApiException")
        self.assertEqual((error["httpStatus"], error["errorCode"]), (429, "everything_too_soon"))
        self.assertGreater(error["retryAfter"], 0)
        error = self.error("$unix->intent('0123456789abcdef01234567');", "Purgeq\\ApiException")
        self.assertEqual(error["httpStatus"], 404)

    def test_usage_errors_name_the_member_and_the_rule(self):
        cases = {
            "$unix->purge(['urls' => ['https://www.a.example/']]);":
                "unknown member urls: want files, tags, hosts, prefixes, purge_everything, zone or priority",
            "$unix->purge(['tags' => ['a'], 'priority' => 'urgent']);":
                'priority: want one of high, normal, bulk, got "urgent"',
            "$unix->purge(['files' => 'https://www.a.example/']);": "files: want a list, got string",
            "$unix->purge(['tags' => ['a', 7]]);": "tags[1]: want a string, got int",
            "$unix->purge(['files' => [['url' => 'https://www.a.example/', 'headers' => []]]]);":
                "files[0].headers: want a non-empty array of name => value",
            "$unix->purge(['tags' => [], 'zone' => 'a.example']);":
                "nothing to purge: no files, tags, hosts, prefixes or purge_everything",
            "$unix->purge(['purge_everything' => 1]);": "purge_everything: want true, got 1",
            "$unix->intent('x', 4000);": "wait 4000: want 0 to 3600 seconds",
            "$tcp->purge(['tags' => ['a'], 'priority' => 'high']);":
                "priority: the TCP listener takes no priority; an API client's lane is its api_clients[].priority",
            "$tcp->status();": "GET /v1/status is served on the Unix socket only; the TCP listener takes purges only",
            "Purgeq\\Client::tcp('ftp://127.0.0.1:1', 't');":
                'TCP URL "ftp://127.0.0.1:1": want http(s)://host:port with no query, fragment or user',
        }
        for code, message in cases.items():
            with self.subTest(code=code):
                self.assertEqual(self.error(code, "Purgeq\\UsageException")["message"], message)
        self.assertEqual(self.fake.requests(), [], "nothing was sent")

    def test_unreachable_daemon_is_a_typed_error_within_the_timeout(self):
        missing = os.path.join(self.daemon.dir, "missing.sock")
        error = self.error(f"Purgeq\\Client::unix('{missing}', 1.0)->purge(['tags' => ['a']]);",
                           "Purgeq\\UnreachableException")
        self.assertEqual(error["curlErrno"], 7)
        self.assertFalse(error["timeout"])
        self.assertEqual(error["message"], f"purgeqd's socket {missing} does not exist: is purgeqd "
                                           "running, and is the path right? (curl error 7)")
        # A daemon that accepts and never answers: the timeout ends the call.
        self.daemon.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: self.daemon.proc.send_signal(signal.SIGCONT))
        answer = self.php(f"Purgeq\\Client::unix({json.dumps(self.daemon.socket_path)}, 0.8)"
                          "->purge(['tags' => ['a'], 'zone' => 'a.example']);")
        self.assertEqual(answer["exception"]["class"], "Purgeq\\UnreachableException")
        self.assertTrue(answer["exception"]["timeout"])
        self.assertRegex(answer["exception"]["message"], r"did not answer within 0\.8 s")
        self.assertGreaterEqual(answer["elapsed_s"], 0.75)
        self.assertLess(answer["elapsed_s"], 1.5)


class TcpListener(ClientCase):
    def test_one_intent_per_kind_in_the_clients_lane(self):
        receipt = self.ok("""
            $r = $tcp->purge(['files' => ['https://www.a.example/t1', 'https://www.a.example/t2'], 'tags' => ['t-tag']]);
            return ['ids' => $r->ids, 'items' => $r->items, 'priority' => $r->priority];
        """)
        self.assertEqual(len(receipt["ids"]), 2)
        self.assertEqual(receipt["items"], 3)
        self.assertIsNone(receipt["priority"])
        for intent_id in receipt["ids"]:
            state = self.daemon.wait_terminal(intent_id)
            self.assertEqual((state["status"], state["priority"]), ("done", "bulk"))
        purged = self.fake.purged()[ZONE_A]
        self.assertIn("https://www.a.example/t1", purged)
        self.assertIn("tag:t-tag", purged)

    def test_a_wrong_token_is_refused_with_cloudflares_code(self):
        error = self.error(f"Purgeq\\Client::tcp('http://127.0.0.1:{self.port}/client/v4', 'wrong-token-0123456789abcdef', "
                           f"'{ZONE_A}')->purge(['tags' => ['a']]);", "Purgeq\\ApiException")
        self.assertEqual((error["httpStatus"], error["errorCode"]), (401, "10000"))

    def test_a_refusal_after_a_stored_kind_names_what_was_stored(self):
        error = self.error("$tcp->purge(['tags' => ['ok-tag'], 'hosts' => ['www.b.example']]);",
                           "Purgeq\\ApiException")
        self.assertEqual(error["httpStatus"], 400)
        self.assertRegex(error["message"], r"\(already stored: [0-9a-f]+\)$")


if __name__ == "__main__":
    unittest.main()
