"""purgeqd --check-config validates a config wherever it runs: secrets that only the daemon's
runtime has (systemd credentials, environment variables) are notes, placeholders are errors."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import PURGEQD, ROOT

PACKAGED = os.path.join(ROOT, "config", "purgeq.yaml")
DEV = os.path.join(ROOT, "config", "purgeq.dev.yaml")
REAL_ZONE_ID = "9f3a1c0d5e7b4a2f8c6d1e0b3a5f7c9d"


def check(config_path, **env_changes):
    """Runs the check with the given variables set (a value of None unsets one)."""
    env = dict(os.environ)
    for name in ("CREDENTIALS_DIRECTORY", "CLOUDFLARE_API_TOKEN"):
        env.pop(name, None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([PURGEQD, "--config", config_path, "--check-config"],
                          capture_output=True, text=True, timeout=30, env=env)


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="purgeq-check-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def filled_in(self, text=None):
        """The packaged config with a real-looking zone, written to the temp dir."""
        with open(PACKAGED) as f:
            text = f.read() if text is None else text
        text = text.replace("name: example.com", "name: shop.example.net.au")
        text = text.replace("023e105f4ecef8ad9ca31a8372d0c353", REAL_ZONE_ID)
        path = os.path.join(self.dir, "purgeq.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_packaged_config_says_what_to_fill_in(self):
        result = check(PACKAGED)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn('zones[0].name: "example.com" is a placeholder: fill in your zone\'s name',
                      result.stderr)
        # Names only: the id and the plan are looked up with the token at start, and it says so.
        self.assertIn('note: zones[0].id: not set; "example.com" is looked up by name',
                      result.stdout)
        self.assertIn("note: accounts[0].plan: not set; follows the plan Cloudflare reports",
                      result.stdout)
        # The credential is not what is wrong: outside systemd it cannot be had, and says so.
        self.assertNotIn("CREDENTIALS_DIRECTORY is not set (run", result.stderr)
        self.assertIn('note: accounts[0].token_credential: resolved at start from systemd '
                      'credential "cloudflare-token"', result.stdout)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_filled_in_config_is_valid_with_a_note(self):
        result = check(self.filled_in())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stderr, "")
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 4, result.stdout)
        self.assertRegex(lines[0], r"^note: accounts\[0\]\.plan: not set")
        self.assertRegex(lines[1], r"^note: accounts\[0\]\.token_credential: resolved at start")
        self.assertRegex(lines[2], r"^note: zones\[0\]\.id: not set")
        self.assertTrue(lines[3].endswith(": OK (1 accounts, 1 zones)"), lines[3])

    def test_credentials_that_are_there_are_checked(self):
        path = self.filled_in()
        credentials = os.path.join(self.dir, "credentials")
        os.mkdir(credentials)
        result = check(path, CREDENTIALS_DIRECTORY=credentials)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("accounts[0].token_credential: cannot read", result.stderr)
        with open(os.path.join(credentials, "cloudflare-token"), "w") as f:
            f.write("t0ken\n")
        result = check(path, CREDENTIALS_DIRECTORY=credentials)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("note: accounts[0].token_credential", result.stdout)

    def test_token_env_is_resolved_at_start_but_a_token_file_must_exist(self):
        with open(PACKAGED) as f:
            packaged = f.read()
        env_config = self.filled_in(packaged.replace("token_credential: cloudflare-token",
                                                     "token_env: CLOUDFLARE_API_TOKEN"))
        result = check(env_config)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("note: accounts[0].token_env: resolved at start from environment variable "
                      "CLOUDFLARE_API_TOKEN", result.stdout)
        self.assertNotIn("token_env", check(env_config, CLOUDFLARE_API_TOKEN="t0ken").stdout)

        missing = os.path.join(self.dir, "no-such-token")
        file_config = self.filled_in(packaged.replace("token_credential: cloudflare-token",
                                                      f"token_file: {missing}"))
        result = check(file_config)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(f'accounts[0].token_file: cannot read "{missing}": No such file',
                      result.stderr)

    def test_the_daemon_refuses_to_start_on_placeholders_with_exit_2(self):
        # Exit 2 is what RestartPreventExitStatus=2 in purgeq.service names: no restart loop.
        creds = os.path.join(self.dir, "creds")
        os.mkdir(creds)
        with open(os.path.join(creds, "cloudflare-token"), "w") as f:
            f.write("a" * 40 + "\n")
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        started = subprocess.run([PURGEQD, "--config", PACKAGED], capture_output=True, text=True,
                                 timeout=30, env=env)
        self.assertEqual(started.returncode, 2, started.stdout + started.stderr)
        self.assertIn('zones[0].name: "example.com" is a placeholder', started.stderr)

    def test_dev_config_passes(self):
        result = check(DEV)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, re.compile(r": OK \(1 accounts, 1 zones, dry run\)$", re.M))


if __name__ == "__main__":
    unittest.main()
