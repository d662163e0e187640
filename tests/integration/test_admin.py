"""Admin endpoints: who may list and retry failed items and read other users' intents.

Clients run as other uids through `setpriv ... curl --unix-socket`, so these tests need root,
setpriv and curl; they are skipped otherwise.
"""

import json
import os
import shutil
import subprocess
import unittest

from harness import DaemonFixture

NOBODY = 65534  # in /etc/passwd as "nobody" on Debian
STRANGER = 65533  # no passwd entry: known only by number
ADMIN_GROUP = 4242  # no group entry either


def _can_switch_users():
    return os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("curl")


@unittest.skipUnless(_can_switch_users(), "needs root, setpriv and curl")
class AdminTest(unittest.TestCase):
    def start(self, **extra):
        config = {"listen": {"mode": "0666"}}
        config.update(extra)
        daemon = DaemonFixture(self, dry_run=True, extra=config)
        # The fixture's directory is private to root; other uids must reach the socket inside.
        os.chmod(daemon.dir, 0o711)
        return daemon.start()

    def as_user(self, daemon, uid, method, target, body=None, gid=None):
        """One request as `uid` (primary group `gid`, no supplementary groups)."""
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid if gid is None else gid}",
                "--clear-groups", "curl", "-sS", "--max-time", "30", "--unix-socket",
                daemon.socket_path, "-X", method, "-w", "\n%{http_code}",
                f"http://localhost{target}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        text, _, code = result.stdout.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)

    def submit_as_root(self, daemon):
        status, body = daemon.submit({"tags": ["root-tag"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        return body["id"]

    def assert_refused(self, answer, *words):
        status, body = answer
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "access_denied", body)
        for word in words:
            self.assertIn(word, body["error"]["message"])

    def test_without_admin_or_access_rules_everyone_who_reaches_the_socket_may(self):
        # Backwards compatible: the socket's mode and group are the gate.
        daemon = self.start()
        intent = self.submit_as_root(daemon)
        self.assertEqual(self.as_user(daemon, NOBODY, "GET", "/v1/failed")[0], 200)
        status, body = self.as_user(daemon, NOBODY, "POST", "/v1/failed/retry")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"requeued": 0})
        status, body = self.as_user(daemon, NOBODY, "GET", f"/v1/intents/{intent}")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], intent)

    def test_with_access_rules_only_root_and_purgeqds_user_are_admins(self):
        daemon = self.start(access=[{"name": "everything-is-roots", "kinds": ["everything"],
                                     "users": ["root"]}])
        self.assert_refused(self.as_user(daemon, NOBODY, "GET", "/v1/failed"),
                            "admin.users", "admin.groups")
        self.assert_refused(self.as_user(daemon, NOBODY, "POST", "/v1/failed/retry"),
                            "admin.users")
        self.assertEqual(daemon.request("GET", "/v1/failed")[0], 200)
        self.assertEqual(daemon.request("POST", "/v1/failed/retry")[0], 200)

        roots = self.submit_as_root(daemon)
        self.assert_refused(self.as_user(daemon, NOBODY, "GET", f"/v1/intents/{roots}?wait=5"),
                            "another user", "admin.users")
        # A peer always reads its own intents; root reads everyone's.
        status, body = self.as_user(daemon, NOBODY, "POST", "/v1/purge",
                                    {"tags": ["nobodys"], "zone": "a.example"})
        self.assertEqual(status, 202, body)
        own = body["id"]
        status, body = self.as_user(daemon, NOBODY, "GET", f"/v1/intents/{own}")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["peer"]["uid"], NOBODY)
        self.assert_refused(self.as_user(daemon, STRANGER, "GET", f"/v1/intents/{own}"))
        self.assertEqual(daemon.intent(own)[0], 200)
        # An unknown id is still 404, not 403.
        self.assertEqual(self.as_user(daemon, NOBODY, "GET", "/v1/intents/nosuchintent")[0], 404)

    def test_admin_users_and_groups(self):
        daemon = self.start(admin={"users": ["nobody"], "groups": [str(ADMIN_GROUP)]})
        roots = self.submit_as_root(daemon)
        for uid, gid in ((NOBODY, None), (STRANGER, ADMIN_GROUP)):
            with self.subTest(uid=uid, gid=gid):
                self.assertEqual(self.as_user(daemon, uid, "GET", "/v1/failed", gid=gid)[0], 200)
                self.assertEqual(
                    self.as_user(daemon, uid, "POST", "/v1/failed/retry", gid=gid)[0], 200)
                status, body = self.as_user(daemon, uid, "GET", f"/v1/intents/{roots}", gid=gid)
                self.assertEqual(status, 200, body)
        self.assert_refused(self.as_user(daemon, STRANGER, "GET", "/v1/failed"),
                            "uid 65533", "admin.users", "admin.groups")
        self.assert_refused(self.as_user(daemon, STRANGER, "GET", f"/v1/intents/{roots}"))
        self.assertEqual(daemon.request("GET", "/v1/failed")[0], 200)  # root always may

    def test_an_empty_admin_section_leaves_only_root_and_purgeqds_user(self):
        daemon = self.start(admin={})
        self.assert_refused(self.as_user(daemon, NOBODY, "GET", "/v1/failed"), "admin.users")
        self.assertEqual(daemon.request("GET", "/v1/failed")[0], 200)
        # Submitting is not an admin action.
        status, body = self.as_user(daemon, NOBODY, "POST", "/v1/purge",
                                    {"tags": ["t"], "zone": "a.example"})
        self.assertEqual(status, 202, body)


if __name__ == "__main__":
    unittest.main()
