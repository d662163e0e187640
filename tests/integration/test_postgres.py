"""The PostgreSQL store backend (docs/scale-out.md) with the real purgeqd against the fake API:
a burst is purged, kill -9 loses nothing acknowledged, and while the server is down submissions
get 503 (never a false ack) and are accepted again once it is back."""

import json
import os
import threading
import time
import unittest

from harness import (PURGEQD, ZONE_A, ZONE_C, DaemonFixture, FakeFixture, UnixHTTPConnection,
                     default_fake_config, wait_until)
import pg_cluster
import subprocess

CLUSTER = None


def setUpModule():
    global CLUSTER
    CLUSTER = pg_cluster.Cluster()


def tearDownModule():
    if CLUSTER:
        CLUSTER.close()


def postgres_daemon(test, fake, db, **kwargs):
    dsn = CLUSTER.create_database(db)
    return DaemonFixture(test, fake=fake, extra={"storage": {"backend": "postgres", "dsn": dsn}},
                         **kwargs)


class PostgresBackendTest(unittest.TestCase):
    def test_burst_is_purged_and_the_queue_lives_in_postgres(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = postgres_daemon(self, fake, "burst").start()
        ids, wanted = [], {ZONE_A: set(), ZONE_C: set()}
        for i in range(60):
            zone, zone_id = ("a.example", ZONE_A) if i % 2 else ("c.example", ZONE_C)
            files = [f"https://{zone}/b/{i}/{k}.css" for k in range(20)]
            files.append(f"https://{zone}/shared.css")  # a twin in many intents
            status, body = daemon.submit({"zone": zone, "files": files})
            self.assertEqual(status, 202, body)
            ids.append(body["id"])
            wanted[zone_id].update(files)
        for intent_id in ids:
            self.assertEqual(daemon.wait_terminal(intent_id)["status"], "done")
        purged = fake.purged()
        for zone_id, urls in wanted.items():
            self.assertLessEqual(urls, set(purged[zone_id]))
        # Schema 3 (acked_ms, the give-up clock from the latest acknowledgement).
        self.assertEqual(CLUSTER.psql("SELECT max(version) FROM purgeq_schema", "burst"), "3")
        self.assertEqual(CLUSTER.psql("SELECT count(*) FROM intents", "burst"), "60")
        _, status = daemon.request("GET", "/v1/status")
        self.assertEqual(status["failed_items"], 0)
        self.assertGreater(status["storage"]["size_bytes"], 0, "pg_database_size")
        self.assertEqual(status["storage"]["backend"], "postgres")
        self.assertNotIn("path", status["storage"], "no SQLite file is in use")
        self.assertEqual(CLUSTER.psql("SELECT coalesce(sum(n), 0) FROM queue_counts WHERE state "
                                      "IN (0, 1)", "burst"), "0", "the kept counts drained")
        # Alone on its database, it wins every account's lock and says so to systemd.
        self.assertTrue(all(a["sending"] for a in status["accounts"].values()), status)
        daemon.notify.wait_for("STATUS=", timeout=10)
        wait_until(lambda: any("sends for 2 of 2 accounts" in m for m in daemon.notify.messages),
                   timeout=15, what="STATUS= names the accounts it sends for")

    def test_kill_9_and_restart_lose_nothing_acknowledged(self):
        # Upstream down: everything acknowledged stays queued across the kill.
        daemon = postgres_daemon(self, None, "durable").start()
        acknowledged = []
        for i in range(200):
            status, body = daemon.submit({"zone": "a.example",
                                          "files": [f"https://a.example/k/{i}.js"]})
            self.assertEqual(status, 202, body)
            acknowledged.append(body["id"])
        daemon.kill9()
        fake = FakeFixture(self, default_fake_config())
        daemon.config["cloudflare"]["api_base"] = f"http://127.0.0.1:{fake.port}/client/v4"
        daemon.write_config()
        daemon.start()
        for intent_id in acknowledged:
            self.assertEqual(daemon.wait_terminal(intent_id)["status"], "done")
        self.assertEqual(len(fake.purged()[ZONE_A]), 200)

    def test_submissions_get_503_while_postgres_is_down_and_are_accepted_after(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = postgres_daemon(self, fake, "outage").start()
        status, before = daemon.submit({"zone": "a.example", "files": ["https://a.example/o/1"]})
        self.assertEqual(status, 202, before)
        CLUSTER.stop("fast")
        try:
            status, refused = daemon.submit({"zone": "a.example",
                                             "files": ["https://a.example/o/2"]})
            self.assertEqual(status, 503, refused)
            self.assertEqual(refused["error"]["code"] if isinstance(refused.get("error"), dict)
                             else refused.get("error"), "storage_unavailable", refused)
        finally:
            CLUSTER.start()
        # The next round reconnects: accepted and purged.
        def accepted():
            status, body = daemon.submit({"zone": "a.example",
                                          "files": ["https://a.example/o/3"]})
            return body["id"] if status == 202 else None
        after = wait_until(accepted, timeout=20, what="a submission accepted after the restart")
        self.assertEqual(daemon.wait_terminal(before["id"])["status"], "done")
        self.assertEqual(daemon.wait_terminal(after)["status"], "done")
        purged = set(fake.purged()[ZONE_A])
        self.assertIn("https://a.example/o/1", purged)
        self.assertIn("https://a.example/o/3", purged)
        self.assertNotIn("https://a.example/o/2", purged, "a refused submission is not queued")


    def test_a_second_daemon_accepts_intents_and_says_which_daemon_sends(self):
        # Upstream down: the first daemon holds both accounts and keeps the items queued.
        dsn = CLUSTER.create_database("two")
        first = DaemonFixture(self, extra={"storage": {"backend": "postgres", "dsn": dsn,
                                                       "node": "web1"}}).start()
        wait_until(lambda: all(a["sending"] for a in
                               first.request("GET", "/v1/status")[1]["accounts"].values()),
                   timeout=10, what="the first daemon sends for both accounts")
        second = DaemonFixture(self, extra={"storage": {"backend": "postgres", "dsn": dsn,
                                                        "node": "web2"}}).start()
        status, body = second.submit({"zone": "a.example", "files": ["https://a.example/x.css"]})
        self.assertEqual(status, 202, body)
        _, st = second.request("GET", "/v1/status")
        self.assertEqual(st["storage"]["node"], "web2")
        self.assertEqual(st["pending"], 1, "the shared queue")
        self.assertFalse(st["accounts"]["acct1"]["sending"])
        self.assertEqual(st["accounts"]["acct1"]["sender"]["node"], "web1")
        self.assertFalse(st["accounts"]["acct1"]["sender"]["this_host"])
        _, intent = second.request("GET", f"/v1/intents/{body['id']}")
        entry = intent["waiting_for"][0]
        self.assertEqual(entry["state"], "sent_elsewhere", intent)
        self.assertEqual(entry["sender"]["node"], "web1")
        shown = second.cli("show", body["id"])
        self.assertIn("sent by purgeqd on web1", shown.stdout + shown.stderr)
        _, metrics = second.request("GET", "/metrics")
        self.assertIn('purgeq_account_sending{account="acct1"} 0', metrics)
        _, metrics = first.request("GET", "/metrics")
        self.assertIn('purgeq_account_sending{account="acct1"} 1', metrics)
        # The first one stops: the second takes both accounts over within a few seconds.
        first.terminate()
        wait_until(lambda: all(a["sending"] for a in
                               second.request("GET", "/v1/status")[1]["accounts"].values()),
                   timeout=10, what="the second daemon took over")

    def test_a_completion_hook_runs_once_its_intent_is_purged(self):
        fake = FakeFixture(self, default_fake_config())
        daemon = postgres_daemon(self, fake, "hooked")
        script = os.path.join(daemon.dir, "warm.sh")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {daemon.dir}/args\n"
                    f"cat > {daemon.dir}/stdin\n")
        os.chmod(script, 0o755)
        daemon.config["hooks"] = [{"name": "warm", "command": [script]}]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"zone": "a.example",
                                      "files": ["https://a.example/h/1", "https://a.example/h/2"]})
        self.assertEqual(status, 202, body)
        self.assertEqual(daemon.wait_terminal(body["id"])["status"], "done")

        def succeeded():
            _, intent = daemon.intent(body["id"])
            return any(run["hook"] == "warm" and run["state"] == "succeeded"
                       for run in intent.get("hooks", []))
        wait_until(succeeded, timeout=20, what="the hook succeeded")
        with open(os.path.join(daemon.dir, "args")) as f:
            self.assertEqual(f.read().split("\n")[:3], [body["id"], "a.example", "done"])
        with open(os.path.join(daemon.dir, "stdin")) as f:
            self.assertEqual(sorted(json.loads(line)["item"] for line in f.read().splitlines()),
                             ["https://a.example/h/1", "https://a.example/h/2"])
        self.assertEqual(CLUSTER.psql("SELECT state, n FROM hook_counts WHERE n != 0", "hooked"),
                         "3|1")


class PostgresConfigTest(unittest.TestCase):
    def write(self, storage):
        daemon = DaemonFixture(self, extra={"storage": storage})
        return daemon

    def check(self, daemon):
        return subprocess.run([PURGEQD, "--config", daemon.config_path, "--check-config"],
                              capture_output=True, text=True, timeout=30)

    def test_check_config_connects_and_reads_the_schema_version(self):
        dsn = CLUSTER.create_database("checked")
        daemon = self.write({"backend": "postgres", "dsn": dsn})
        result = self.check(daemon)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("is not there yet and is created at start", result.stdout)
        CLUSTER.psql("CREATE TABLE purgeq_schema(version int); INSERT INTO purgeq_schema "
                     "VALUES (99)", "checked")
        result = self.check(daemon)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("schema version 99, newer than this purgeqd", result.stderr)

    def test_check_config_reports_an_unreachable_server(self):
        daemon = self.write({"backend": "postgres",
                             "dsn": f"host={CLUSTER.dir}/nowhere dbname=x user=postgres"})
        result = self.check(daemon)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("storage.dsn: cannot connect to PostgreSQL", result.stderr)

    def test_a_credential_outside_systemd_is_a_note_not_a_failed_login(self):
        daemon = self.write({"backend": "postgres", "dsn": CLUSTER.dsn("postgres"),
                             "password_credential": "pg-password"})
        env = dict(os.environ)
        env.pop("CREDENTIALS_DIRECTORY", None)
        result = subprocess.run([PURGEQD, "--config", daemon.config_path, "--check-config"],
                                capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn('note: storage.password_credential: resolved at start from systemd '
                      'credential "pg-password"', result.stdout)

    def test_a_password_in_the_dsn_is_refused(self):
        for dsn in ("host=db user=purgeq password=secret", "postgresql://purgeq:secret@db/q"):
            daemon = self.write({"backend": "postgres", "dsn": dsn})
            result = self.check(daemon)
            self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
            self.assertIn("storage.dsn", result.stderr)
            self.assertIn("storage.password_file", result.stderr)
            self.assertNotIn("secret", result.stderr, "the password is not echoed")

    def test_an_unreadable_password_file_stops_the_start_naming_the_key(self):
        daemon = self.write({"backend": "postgres", "dsn": CLUSTER.dsn("postgres"),
                             "password_file": os.path.join(CLUSTER.dir, "missing")})
        daemon.start(wait=False)
        self.assertNotEqual(daemon.proc.wait(timeout=20), 0)
        self.assertIn("storage.password_file: cannot read", daemon.logs())

    def test_the_password_file_authenticates_a_role_that_needs_one(self):
        CLUSTER.psql("SET password_encryption = 'scram-sha-256'; "
                     "CREATE ROLE pw LOGIN PASSWORD 'right-one'")
        CLUSTER.psql("CREATE DATABASE pwdb OWNER pw")
        CLUSTER.require_password_for("pw")
        dsn = f"host={CLUSTER.dir} dbname=pwdb user=pw"
        daemon = self.write({"backend": "postgres", "dsn": dsn,
                             "password_file": os.path.join(CLUSTER.dir, "missing")})
        secret = os.path.join(daemon.dir, "pg.password")
        with open(secret, "w") as f:
            f.write("wrong-one\n")
        daemon.config["storage"]["password_file"] = secret
        daemon.write_config()
        daemon.start(wait=False)
        self.assertNotEqual(daemon.proc.wait(timeout=20), 0)
        self.assertIn("password authentication failed", daemon.logs())
        with open(secret, "w") as f:
            f.write("right-one\n")
        daemon.start()
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/pw"]})
        self.assertEqual(status, 202, body)
        self.assertEqual(CLUSTER.psql("SELECT count(*) FROM intents", "pwdb"), "1")


if __name__ == "__main__":
    unittest.main()
