"""purgeq --wait against the real daemon: riding out a restart, timing out with a reason, and
finding the development daemon's socket without --socket or PURGEQ_SOCKET."""

import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import PURGEQ, DaemonFixture, FakeFixture, default_fake_config, wait_until

SYSTEM_SOCKET = "/run/purgeq/purgeq.sock"


def env_without_socket():
    env = dict(os.environ)
    env.pop("PURGEQ_SOCKET", None)
    return env


def run_purgeq(*args, cwd=None, env=None, timeout=60):
    return subprocess.run([PURGEQ, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env if env is not None else env_without_socket())


class CliWaitTest(unittest.TestCase):
    def test_wait_rides_out_a_daemon_restart_and_ends_0_once_purged(self):
        fake = FakeFixture(self, default_fake_config())
        # Cloudflare fails until the daemon has been restarted, so the intent is still pending
        # when purgeqd goes away under the waiting CLI.
        fake.post("/_fake/faults", {"force_status": {"status": 502, "count": None}})
        daemon = DaemonFixture(self, fake=fake).start()
        env = dict(os.environ, PURGEQ_SOCKET=daemon.socket_path)
        cli = subprocess.Popen([PURGEQ, "--wait", "60", "url", "https://a.example/restart"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: cli.poll() is None and cli.kill())
        wait_until(lambda: any(e.get("status") == 502 for e in fake.requests()), timeout=20,
                   what="a failed upstream attempt")
        self.assertEqual(daemon.terminate(), 0)
        time.sleep(1.0)  # no daemon at all for a while: connections are refused
        self.assertIsNone(cli.poll(), "purgeq must keep waiting while purgeqd is down")
        fake.post("/_fake/faults", {"force_status": None})
        daemon.start()
        out, err = cli.communicate(timeout=60)
        self.assertEqual(cli.returncode, 0, err)
        self.assertRegex(out, r"^queued 1 item as intent \S+\ndone: 1 purged\n$")
        self.assertEqual(err, "", "piped, the reconnects are silent")
        self.assertIn("https://a.example/restart", fake.purged()[daemon.config["zones"][0]["id"]])

    def test_wait_on_a_paused_account_times_out_with_4_and_says_why(self):
        fake = FakeFixture(self, default_fake_config())
        fake.post("/_fake/faults", {"pause_auth": ["acct1"]})
        daemon = DaemonFixture(self, fake=fake).start()
        waited = daemon.cli("--wait=5", "url", "https://a.example/paused")
        self.assertEqual(waited.returncode, 4, waited.stderr)
        self.assertIn("timed out waiting for intent", waited.stderr)
        intent_id = waited.stdout.split()[-1]
        # Why, since when, and how to resume.
        self.assertIn("waiting: account acct1 is paused", waited.stderr)
        self.assertIn("10000", waited.stderr)
        self.assertIn("reload", waited.stderr)
        self.assertIn("waiting: account acct1 is paused", daemon.cli("show", intent_id).stdout)
        # The token fixed and the config reloaded: the wait ends with everything purged.
        fake.post("/_fake/faults", {"pause_auth": []})
        daemon.proc.send_signal(signal.SIGHUP)
        resumed = daemon.cli("wait", intent_id, "--timeout", "30")
        self.assertEqual(resumed.returncode, 0, resumed.stderr)


class SocketDiscoveryTest(unittest.TestCase):
    def setUp(self):
        if os.path.exists(SYSTEM_SOCKET):
            self.skipTest(f"{SYSTEM_SOCKET} exists on this machine and takes precedence")

    def test_finds_the_development_socket_from_the_checkout(self):
        daemon = DaemonFixture(self, dry_run=True)
        # As config/purgeq.dev.yaml: run/purgeq.sock under the directory purgeq runs in.
        os.makedirs(os.path.join(daemon.dir, "run"))
        daemon.config["listen"]["socket"] = os.path.join(daemon.dir, "run", "purgeq.sock")
        daemon.write_config()
        daemon.start()
        status = run_purgeq("status", cwd=daemon.dir)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("queue: 0 pending", status.stdout)
        waited = run_purgeq("--wait", "30", "--zone", "a.example", "tag", "found", cwd=daemon.dir)
        self.assertEqual(waited.returncode, 0, waited.stderr)
        self.assertIn("done: 1 purged", waited.stdout)
        # A socket that is named is used as named, never swapped for one found on disk.
        named = run_purgeq("status", cwd=daemon.dir,
                           env=dict(env_without_socket(), PURGEQ_SOCKET="/nonexistent/x.sock"))
        self.assertEqual(named.returncode, 3)
        self.assertIn("/nonexistent/x.sock", named.stderr)

    def test_no_socket_found_names_the_paths_and_the_way_out(self):
        with tempfile.TemporaryDirectory() as empty:
            result = run_purgeq("url", "https://www.example.com/", cwd=empty)
        self.assertEqual(result.returncode, 3)
        self.assertEqual(result.stdout, "")
        for text in (SYSTEM_SOCKET, "./run/purgeq.sock", "--socket", "PURGEQ_SOCKET"):
            self.assertIn(text, result.stderr)


if __name__ == "__main__":
    unittest.main()
