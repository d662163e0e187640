"""Command hooks through purgeq-hookd (purgeqd --hookd-socket), and the daemon's own secrets:
hooks run as the helper's children with the same argv, environment and stdin as in-process; a
helper that is down fails the run and never makes purgeqd run it itself; stopping purgeqd kills a
hook running in the helper; a token_env token is wiped from the daemon's /proc environ.

The user boundary itself (a hook as purgeq-hook unable to read the keys) needs root and throwaway
users: scripts/test-package.sh checks it on the installed package."""

import os
import signal
import stat
import subprocess
import time
import unittest

from harness import (ZONE_A, DaemonFixture, FakeFixture, _binary, default_fake_config,
                     wait_until)

PURGEQ_HOOKD = _binary("PURGEQ_HOOKD", "purgeq-hookd")

# Records its run: argv, stdin, environment and parent (the helper, or purgeqd), then $1 decides.
RECORDING = """#!/bin/sh
dir="{dir}"
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$dir/count"
printf '%s\\n' "$@" > "$dir/args.$n"
cat > "$dir/stdin.$n"
env | sort > "$dir/env.$n"
echo $PPID > "$dir/parent.$n"
echo "run $n attempt $PURGEQ_ATTEMPT"
"""


def write_script(directory, name, body):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def read(path):
    with open(path) as f:
        return f.read()


class HookdFixture:
    """purgeq-hookd on a socket in `directory`, serving this process's uid."""

    def __init__(self, test, directory):
        self.socket_path = os.path.join(directory, "hooks.sock")
        self.log_path = os.path.join(directory, "hookd.log")
        self.proc = None
        test.addCleanup(self.stop)

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([PURGEQ_HOOKD, "--socket", self.socket_path,
                                      "--allow-user", str(os.getuid())],
                                     stdout=log, stderr=log)
        log.close()
        wait_until(lambda: "hookd_listening" in self.logs(), timeout=10,
                   what="purgeq-hookd listening")
        return self

    def logs(self):
        try:
            return read(self.log_path)
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def hook_run(daemon, intent_id, name):
    status, body = daemon.intent(intent_id)
    assert status == 200, body
    return next((run for run in body.get("hooks", []) if run["hook"] == name), None)


def wait_hook(daemon, intent_id, name, state, timeout=30):
    try:
        wait_until(lambda: (hook_run(daemon, intent_id, name) or {}).get("state") == state,
                   timeout=timeout, interval=0.1, what=f"hook {name} {state}")
    except AssertionError:
        raise AssertionError(f"hook {name}: {hook_run(daemon, intent_id, name)}; log:\n"
                             + daemon.logs())
    return hook_run(daemon, intent_id, name)


class HookdTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeFixture(self, default_fake_config())

    def daemon_with_helper(self, hook):
        daemon = DaemonFixture(self, fake=self.fake)
        helper = HookdFixture(self, daemon.dir)
        hook.setdefault("command", [write_script(daemon.dir, "warm.sh",
                                                 RECORDING.format(dir=daemon.dir))])
        daemon.config["hooks"] = [hook]
        daemon.write_config()
        return daemon, helper

    def start(self, daemon, helper):
        return daemon.start(args=["--hookd-socket", helper.socket_path])

    def test_a_command_hook_runs_in_the_helper_with_the_same_argv_stdin_and_environment(self):
        daemon, helper = self.daemon_with_helper({"name": "warm"})
        helper.start()
        self.start(daemon, helper)
        self.assertIn(f'event=hooks_runner command_hooks="purgeq-hookd at {helper.socket_path}"',
                      daemon.logs())
        status, body = daemon.submit({"zone": "a.example", "priority": "high",
                                      "files": ["https://a.example/1", "https://a.example/2"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        wait_hook(daemon, intent, "warm", "succeeded")
        d = daemon.dir
        self.assertEqual(int(read(f"{d}/parent.1")), helper.proc.pid,
                         "spawned by purgeq-hookd, not by purgeqd")
        self.assertEqual(read(f"{d}/args.1").split("\n")[:3], [intent, "a.example", "done"])
        self.assertEqual(sorted(line.split('"item":"')[1].split('"')[0]
                                for line in read(f"{d}/stdin.1").splitlines()),
                         ["https://a.example/1", "https://a.example/2"])
        # The fixed environment, nothing of purgeqd's or the helper's (NOTIFY_SOCKET, HOME...).
        env = dict(line.split("=", 1) for line in read(f"{d}/env.1").splitlines())
        self.assertEqual(env.pop("PATH"), "/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(env.pop("PURGEQ_HOOK"), "warm")
        self.assertEqual(env.pop("PURGEQ_LANE"), "high")
        self.assertEqual(env.pop("PURGEQ_ITEMS"), "2")
        self.assertEqual({k for k in env if not k.startswith("PURGEQ_")} - {"LANG", "PWD"},
                         set(), env)
        self.assertIn("run 1 attempt 1", daemon.logs(), "the hook's output is logged by purgeqd")

    def test_a_helper_that_is_down_fails_the_run_and_purgeqd_never_runs_it_itself(self):
        daemon, helper = self.daemon_with_helper({"name": "warm", "attempts": 20,
                                                  "retry_initial": "200ms",
                                                  "retry_max": "300ms"})
        self.start(daemon, helper)
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/d"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        wait_until(lambda: "cannot reach purgeq-hookd" in daemon.logs(), timeout=30,
                   what="a failed attempt")
        self.assertIn("event=hook_attempt_failed hook=warm", daemon.logs())
        self.assertFalse(os.path.exists(os.path.join(daemon.dir, "count")),
                         "the hook ran although its helper was down")
        helper.start()
        run = wait_hook(daemon, intent, "warm", "succeeded")
        self.assertGreaterEqual(run["attempts"], 2)
        self.assertEqual(read(os.path.join(daemon.dir, "count")).strip(), "1")
        self.assertEqual(int(read(os.path.join(daemon.dir, "parent.1"))), helper.proc.pid)

    def test_stopping_purgeqd_kills_its_hook_in_the_helper_and_it_runs_again_at_start(self):
        daemon = DaemonFixture(self, fake=self.fake)
        helper = HookdFixture(self, daemon.dir).start()
        script = write_script(daemon.dir, "slow.sh", """#!/bin/sh
n=$(cat "{dir}/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "{dir}/count"
if [ $n -eq 1 ]; then sleep 60 & echo $$ $! > "{dir}/first.pids"; wait; fi
""".format(dir=daemon.dir))
        daemon.config["hooks"] = [{"name": "slow", "command": [script], "timeout": "2m"}]
        daemon.write_config()
        self.start(daemon, helper)
        status, body = daemon.submit({"zone": "a.example", "files": ["https://a.example/s"]})
        self.assertEqual(status, 202, body)
        intent = body["id"]
        pids_file = os.path.join(daemon.dir, "first.pids")
        wait_until(lambda: os.path.exists(pids_file) and read(pids_file).strip(), timeout=30,
                   what="the first run started")
        pids = [int(p) for p in read(pids_file).split()]
        self.assertEqual(daemon.terminate(), 0)

        def gone():
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    return False
                except ProcessLookupError:
                    pass
            return True
        wait_until(gone, timeout=10, what="the hook and its child killed")
        self.assertIn("event=hookd_run_abandoned", helper.logs())
        self.start(daemon, helper)
        run = wait_hook(daemon, intent, "slow", "succeeded")
        self.assertEqual(run["attempts"], 2)

    def test_a_token_env_token_is_wiped_from_the_daemons_environ_and_still_used_after_reload(self):
        daemon = DaemonFixture(
            self, fake=self.fake,
            accounts=[dict(name="acct1", plan="enterprise", token_env="PURGEQ_IT_TOKEN")],
            zones=[dict(name="a.example", id=ZONE_A, account="acct1")],
            env={"PURGEQ_IT_TOKEN": "token-one"})
        daemon.start()
        try:
            environ = read(f"/proc/{daemon.proc.pid}/environ")
        except PermissionError:
            # Not root: purgeqd is not dumpable, so not even its own user reads its environ.
            environ = None
        if environ is not None:
            self.assertNotIn("token-one", environ)
            # Wiped in place: the name is left with nothing after it.
            self.assertIn("PURGEQ_IT_TOKEN=", environ.split("\0"))
            self.assertIn("NOTIFY_SOCKET=", environ, "the rest of the environment is intact")
        result = daemon.cli("--wait=30", "url", "https://a.example/before-reload")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "event=reloaded" in daemon.logs() or "reload_failed" in daemon.logs(),
                   timeout=10, what="the reload")
        self.assertNotIn("reload_failed", daemon.logs())
        result = daemon.cli("--wait=30", "url", "https://a.example/after-reload")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("https://a.example/after-reload", self.fake.purged()[ZONE_A])


if __name__ == "__main__":
    unittest.main()
