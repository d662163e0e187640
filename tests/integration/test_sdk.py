"""Cloudflare's official Node SDK (npm `cloudflare`, pinned in tests/sdk/package-lock.json) against
purgeqd's TCP listener: every body variant goes through and reaches the fake Cloudflare API; a
missing or wrong token and a purge outside the client's rules are refused in Cloudflare's shapes;
nothing but the purge route answers on TCP."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import unittest

from harness import ZONE_A, DaemonFixture, FakeFixture, default_fake_config, wait_until

SDK_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "sdk"))
NODE = shutil.which("node")
NPM = shutil.which("npm")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_sdk():
    """npm ci from the lockfile, once per checkout (the registry is the only network needed)."""
    if os.path.isdir(os.path.join(SDK_DIR, "node_modules", "cloudflare")):
        return
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK_DIR,
                   check=True, timeout=300)


@unittest.skipUnless(NODE and NPM, "node and npm are needed (scripts/setup.sh installs them)")
class SdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_sdk()

    def setUp(self):
        self.fake = FakeFixture(self, default_fake_config())
        self.port = free_port()
        self.daemon = DaemonFixture(self, fake=self.fake)
        tokens = {"deploy": "client-token-deploy-0123456789", "cms": "client-token-cms-0123456789"}
        clients = []
        for name, token in tokens.items():
            path = os.path.join(self.daemon.dir, f"{name}.client-token")
            with open(path, "w") as f:
                f.write(token + "\n")
            clients.append({"name": name, "token_file": path, "zones": ["a.example"]})
        clients[1]["kinds"] = ["file", "tag"]  # the CMS may not purge everything
        self.tokens = tokens
        config = dict(self.daemon.config)
        config["tcp"] = {"listen": f"127.0.0.1:{self.port}"}
        config["api_clients"] = clients
        self.daemon.config = config
        self.daemon.write_config()
        self.daemon.start()

    def sdk(self, variant, token):
        env = dict(os.environ, PURGEQ_BASE_URL=f"http://127.0.0.1:{self.port}/client/v4",
                   PURGEQ_TOKEN=token, PURGEQ_ZONE_ID=ZONE_A)
        run = subprocess.run([NODE, os.path.join(SDK_DIR, "sdk_client.mjs"), variant], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        return json.loads(run.stdout)

    def raw(self, method, path, headers=None, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def test_every_body_variant_reaches_cloudflare(self):
        for variant in ["files", "files_with_headers", "tags", "hosts", "prefixes", "everything"]:
            answer = self.sdk(variant, self.tokens["deploy"])
            self.assertTrue(answer["ok"], f"{variant}: {answer}")
            # One at a time: a purge-everything pending beside the others would cover them.
            final = self.daemon.wait_terminal(answer["result"]["id"], timeout=60)
            self.assertEqual(final["status"], "done", variant)
        purged = self.fake.purged()[ZONE_A]
        for key in ["https://a.example/sdk/one.css", 'https://a.example/sdk/mobile {"cf-device-type"',
                    "tag:sdk-tag-2", "host:www.a.example", "prefix:a.example/sdk/",
                    "purge_everything"]:
            self.assertTrue(any(k.startswith(key) for k in purged), (key, list(purged)))
        self.assertRegex(self.daemon.logs(), r"event=intent_accepted .*source=tcp:deploy")

    def test_a_wrong_token_is_an_authentication_error(self):
        answer = self.sdk("tags", "not-a-client-token")
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["status"], 401)
        self.assertEqual(answer["errors"][0]["code"], 10000)
        # A Cloudflare account token is not a client token either.
        self.assertEqual(self.sdk("tags", "token-one")["status"], 401)

    def test_no_token_is_refused(self):
        status, body = self.raw("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                                {"Content-Type": "application/json"}, json.dumps({"tags": ["x"]}))
        self.assertEqual(status, 400)
        self.assertFalse(body["success"])
        self.assertEqual(body["errors"][0]["code"], 9106)

    def test_a_purge_outside_the_clients_rules_is_refused_naming_the_rule(self):
        answer = self.sdk("everything", self.tokens["cms"])
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["status"], 403)
        self.assertEqual(answer["errors"][0]["code"], 10000)
        message = answer["errors"][0]["message"]
        self.assertIn('api_clients "cms"', message)
        self.assertIn("everything", message)
        self.assertTrue(self.sdk("tags", self.tokens["cms"])["ok"], "its own kinds still work")
        self.assertFalse(any(e.get("body", {}).get("purge_everything")
                             for e in self.fake.requests()), "nothing refused was sent")

    def test_nothing_else_answers_on_tcp(self):
        auth = {"Authorization": f"Bearer {self.tokens['deploy']}"}
        for path in ["/metrics", "/healthz"]:
            status, body = self.raw("GET", path, auth)
            self.assertEqual(status, 404, path)
            self.assertEqual(body["errors"][0]["code"], 7000, path)
            status, body = self.raw("GET", path)
            self.assertEqual(status, 400, f"{path} without a token")
        # The read-only views need a client with the `status` scope (test_status_page.py); a purge
        # client's token is refused in purgeqd's own shape.
        for path in ["/v1/status", "/v1/failed"]:
            status, body = self.raw("GET", path, auth)
            self.assertEqual(status, 403, path)
            self.assertEqual(body["error"]["code"], "access_denied", path)
            status, body = self.raw("GET", path)
            self.assertEqual(status, 401, f"{path} without a token")
        status, body = self.raw("POST", "/v1/purge", auth, json.dumps({"tags": ["x"]}))
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main()
