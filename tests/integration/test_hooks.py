"""Completion hooks through the real daemon: retries until success, at-least-once across kill -9,
a hanging hook killed at its deadline, selection by lane, HTTP hooks, and what status, metrics and
the CLI show."""

import http.server
import json
import os
import signal
import stat
import threading
import time
import unittest

from harness import ZONE_A, DaemonFixture, FakeFixture, default_fake_config, wait_until


def write_script(directory, name, body):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


# Counts its runs in $DIR/count, keeps each run's argv and stdin, and fails until run $1.
COUNTING = """
dir="{dir}"
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$dir/count"
printf '%s\\n' "$@" > "$dir/args.$n"
cat > "$dir/stdin.$n"
echo "run $n of $PURGEQ_HOOK attempt $PURGEQ_ATTEMPT"
[ $n -ge {succeed_at} ]
"""


def hook_state(daemon, intent_id, name):
    status, body = daemon.intent(intent_id)
    assert status == 200, body
    for run in body.get("hooks", []):
        if run["hook"] == name:
            return run
    return None


def wait_hook(daemon, intent_id, name, state, timeout=20):
    found = {}

    def reached():
        found["run"] = hook_state(daemon, intent_id, name)
        return found["run"] is not None and found["run"]["state"] == state

    try:
        wait_until(reached, timeout=timeout, interval=0.1, what=f"hook {name} {state}")
    except AssertionError:
        raise AssertionError(f"hook {name} is {found.get('run')}; log:\n{daemon.logs()}")
    return found["run"]


class HooksTest(unittest.TestCase):
    def daemon(self, hooks):
        fake = FakeFixture(self, default_fake_config())
        return DaemonFixture(self, fake=fake, extra={"hooks": hooks})

    def test_a_hook_that_fails_twice_runs_three_times_and_shows_succeeded(self):
        daemon = self.daemon([])
        script = write_script(daemon.dir, "warm.sh",
                              COUNTING.format(dir=daemon.dir, succeed_at=3))
        daemon.config["hooks"] = [
            {"name": "warm", "command": [script, "--fast"], "retry_initial": "100ms",
             "retry_max": "200ms", "attempts": 5},
            {"name": "only-b", "command": [script], "zones": ["b.example"]},
        ]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"zone": "a.example",
                                      "files": ["https://a.example/1", "https://a.example/2"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        self.assertEqual(daemon.wait_terminal(intent, timeout=30)["status"], "done")
        run = wait_hook(daemon, intent, "warm", "succeeded")
        self.assertEqual(run["attempts"], 3)
        self.assertNotIn("last_error", run)
        with open(os.path.join(daemon.dir, "count")) as f:
            self.assertEqual(f.read().strip(), "3")
        self.assertIsNone(hook_state(daemon, intent, "only-b"), "zones: [b.example] only")
        with open(os.path.join(daemon.dir, "args.3")) as f:
            self.assertEqual(f.read().split("\n")[:4], ["--fast", intent, "a.example", "done"])
        with open(os.path.join(daemon.dir, "stdin.3")) as f:
            lines = [json.loads(line) for line in f.read().splitlines()]
        self.assertEqual(sorted(line["item"] for line in lines),
                         ["https://a.example/1", "https://a.example/2"])
        self.assertEqual({(line["zone"], line["kind"], line["status"]) for line in lines},
                         {("a.example", "file", "done")})
        logs = daemon.logs()
        self.assertIn("hook_attempt_failed", logs)
        self.assertIn("run 1 of warm attempt 1", logs)
        _, text = daemon.request("GET", "/metrics")
        self.assertIn('purgeq_hook_runs_total{hook="warm",outcome="retried"} 2', text)
        self.assertIn('purgeq_hook_runs_total{hook="warm",outcome="succeeded"} 1', text)
        self.assertIn('purgeq_hook_runs{hook="warm",state="succeeded"} 1', text)
        shown = daemon.cli("show", intent)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertRegex(shown.stdout, r"hook warm: succeeded after 3 attempts")

    def test_each_cache_key_variant_reaches_the_hook_with_its_headers(self):
        # A warmer must fetch every cached copy: one line per variant, with its headers.
        fake = FakeFixture(self, default_fake_config())
        daemon = DaemonFixture(self, fake=fake, zones=[
            dict(name="a.example", id=ZONE_A, account="acct1",
                 variants={"CF-Device-Type": ["mobile", "desktop"]})])
        script = write_script(daemon.dir, "warm.sh", COUNTING.format(dir=daemon.dir, succeed_at=1))
        daemon.config["hooks"] = [{"name": "warm", "command": [script]}]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"files": ["https://a.example/p"]})
        self.assertEqual(status, 202, body)
        wait_hook(daemon, body["id"], "warm", "succeeded")
        with open(os.path.join(daemon.dir, "stdin.1")) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(sorted((line["item"], line["headers"]["CF-Device-Type"]) for line in lines),
                         [("https://a.example/p", "desktop"), ("https://a.example/p", "mobile")])

    def test_kill_9_between_the_purge_and_the_hook_still_runs_it_after_restart(self):
        daemon = self.daemon([])
        # The first run hangs (as if purgeqd died while it ran); later runs succeed.
        script = write_script(daemon.dir, "slow.sh", """
dir="{dir}"
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$dir/count"
if [ $n -eq 1 ]; then echo $$ > "$dir/first.pid"; exec sleep 60; fi
cat > "$dir/stdin.$n"
""".format(dir=daemon.dir))
        daemon.config["hooks"] = [{"name": "warm", "command": [script], "timeout": "2m"}]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/k"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        self.assertEqual(daemon.wait_terminal(intent, timeout=30)["status"], "done")
        pid_file = os.path.join(daemon.dir, "first.pid")
        wait_until(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0,
                   timeout=20, what="the first run started")
        self.assertEqual(hook_state(daemon, intent, "warm")["state"], "running")
        # The hung run outlives purgeqd's kill -9. Pin it now, while it is provably the
        # daemon's child, so that cleanup can never signal a recycled pid.
        pinned = self.pin_child_of(daemon.proc.pid, pid_file)
        self.addCleanup(self.kill_pinned, pinned)
        self.assertIsNotNone(pinned, "the hung run is purgeqd's own child")
        daemon.kill9()
        daemon.start()
        run = wait_hook(daemon, intent, "warm", "succeeded")
        self.assertEqual(run["attempts"], 2, "the interrupted run counts as an attempt")
        with open(os.path.join(daemon.dir, "stdin.2")) as f:
            self.assertIn("https://a.example/k", f.read())
        self.assertIn("hooks_recovered", daemon.logs())

    @staticmethod
    def pin_child_of(parent, pid_file):
        """A pidfd for the process named in `pid_file`, or None unless, once the pidfd is open,
        that process is alive and a child of `parent` (a process this test started and has not
        reaped, so its children's pids are not reused while it lives)."""
        with open(pid_file) as f:
            pid = int(f.read())
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The command may hold spaces and parentheses: the ppid follows the last ')'.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            signal.pidfd_send_signal(pidfd, 0)  # still the process the pidfd was opened for
        except (OSError, ValueError, IndexError):
            ppid = None
        if ppid != parent:
            os.close(pidfd)
            return None
        return pidfd

    @staticmethod
    def kill_pinned(pidfd):
        if pidfd is None:
            return
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended by itself: nothing of ours is left
        finally:
            os.close(pidfd)

    def test_a_hanging_hook_is_killed_at_its_timeout_and_recorded_failed(self):
        daemon = self.daemon([])
        script = write_script(daemon.dir, "hang.sh", "echo $$ >> \"{dir}/pids\"\nexec sleep 60\n"
                              .format(dir=daemon.dir))
        daemon.config["hooks"] = [{"name": "hang", "command": [script], "timeout": "500ms",
                                   "attempts": 2, "retry_initial": "100ms", "retry_max": "100ms"}]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"zone": "a.example", "tags": ["hang-tag"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        daemon.wait_terminal(intent, timeout=30)
        started = time.monotonic()
        run = wait_hook(daemon, intent, "hang", "failed")
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(run["attempts"], 2)
        self.assertEqual(run["last_error"], "timed out after 500ms (killed)")
        with open(os.path.join(daemon.dir, "pids")) as f:
            pids = [int(p) for p in f.read().split()]
        self.assertEqual(len(pids), 2)
        for pid in pids:
            with self.assertRaises(ProcessLookupError, msg="the hung hook was killed"):
                os.kill(pid, 0)
        _, status_body = daemon.request("GET", "/v1/status")
        self.assertEqual(status_body["hooks"]["failed"], 1)
        _, text = daemon.request("GET", "/metrics")
        self.assertIn('purgeq_hook_runs_total{hook="hang",outcome="failed"} 1', text)
        self.assertIn('purgeq_hook_runs{hook="hang",state="failed"} 1', text)
        self.assertIn("hook_failed", daemon.logs())
        shown = daemon.cli("show", intent)
        self.assertIn("hook hang: failed after 2 attempts: timed out after 500ms (killed)",
                      shown.stdout)
        self.assertIn("hook runs: 0 pending, 0 running, 1 failed", daemon.cli("status").stdout)

    def test_a_missing_program_is_warned_about_and_its_attempts_fail(self):
        daemon = self.daemon([{"name": "gone", "command": ["/nonexistent/warm"],
                               "attempts": 1}]).start()
        self.assertIn("event=hook_not_runnable hook=gone", daemon.logs())
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/g"]})
        self.assertEqual(status, 202, body)
        daemon.wait_terminal(body["id"], timeout=30)
        run = wait_hook(daemon, body["id"], "gone", "failed")
        self.assertEqual(run["last_error"],
                         "cannot run /nonexistent/warm: No such file or directory")

    def test_a_hook_with_lanes_runs_only_for_intents_accepted_in_them(self):
        daemon = self.daemon([])
        script = write_script(daemon.dir, "urgent.sh", """
printf '%s %s\\n' "$PURGEQ_INTENT" "$PURGEQ_LANE" >> "{dir}/runs"
""".format(dir=daemon.dir))
        daemon.config["hooks"] = [
            {"name": "urgent", "command": [script], "lanes": ["high"]},
            {"name": "any", "command": [script], "zones": ["b.example"]},
        ]
        daemon.write_config()
        daemon.start()
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/n"]})
        self.assertEqual(status, 202, body)
        self.assertEqual(body["priority"], "normal")
        normal = body["id"]
        status, body = daemon.submit({"zone": "a.example", "priority": "high",
                                      "files": ["https://a.example/h"]})
        self.assertEqual(status, 202, body)
        high = body["id"]
        daemon.wait_terminal(high, timeout=30)
        wait_hook(daemon, high, "urgent", "succeeded")
        # Which hooks an intent has is fixed when it is accepted, so a terminal intent without
        # runs never gets one.
        self.assertEqual(daemon.wait_terminal(normal, timeout=30)["status"], "done")
        _, shown = daemon.intent(normal)
        self.assertEqual(shown.get("hooks", []), [], "lanes: [high] does not run for normal")
        # A bulk intent of b.example gets the hook with no lanes, and its lane in PURGEQ_LANE.
        status, body = daemon.submit({"zone": "b.example", "priority": "bulk",
                                      "files": ["https://b.example/l"]})
        self.assertEqual(status, 202, body)
        bulk = body["id"]
        daemon.wait_terminal(bulk, timeout=30)
        wait_hook(daemon, bulk, "any", "succeeded")
        self.assertEqual([run["hook"] for run in daemon.intent(bulk)[1]["hooks"]], ["any"])
        with open(os.path.join(daemon.dir, "runs")) as f:
            self.assertEqual(sorted(f.read().splitlines()),
                             sorted([f"{high} high", f"{bulk} bulk"]))

    def test_an_http_hook_posts_the_summary_and_items(self):
        received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                received.append((self.headers["Content-Type"],
                                 json.loads(self.rfile.read(length))))
                self.send_response(500 if len(received) == 1 else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        daemon = self.daemon([{"name": "notify",
                               "url": f"http://127.0.0.1:{server.server_port}/purged",
                               "retry_initial": "100ms", "retry_max": "100ms"}]).start()
        status, body = daemon.submit({"zone": "b.example", "priority": "bulk",
                                      "files": ["https://b.example/h"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        daemon.wait_terminal(intent, timeout=30)
        run = wait_hook(daemon, intent, "notify", "succeeded")
        self.assertEqual(run["attempts"], 2)
        self.assertEqual(len(received), 2)
        content_type, posted = received[-1]
        self.assertEqual(content_type, "application/json")
        self.assertEqual(posted["intent"], intent)
        self.assertEqual(posted["status"], "done")
        self.assertEqual(posted["zones"], ["b.example"])
        self.assertEqual(posted["priority"], "bulk", "the lane the intent was accepted in")
        self.assertEqual(posted["items_truncated"], False)
        self.assertEqual(posted["items"], [{"zone": "b.example", "kind": "file",
                                            "item": "https://b.example/h", "status": "done"}])


if __name__ == "__main__":
    unittest.main()
