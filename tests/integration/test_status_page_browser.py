"""The status page in a real browser (issue 23): Debian's chromium, headless, driven through the
DevTools protocol by puppeteer-core (pinned in tests/dashboard/package-lock.json), on `purgeq
dashboard` against a purgeqd with a backlog, a paused account and a failed item. The DOM must
show the status's numbers, the chart must have points, the retry button must work for an admin and
be absent for others, and the page must say when purgeqd is unreachable. A screenshot is written
to the build directory (status-page.png)."""

import json
import os
import shutil
import signal
import subprocess
import unittest

from harness import PURGEQD
from status_scene import BACKLOG, FAILED, PURGED, Scene
from test_status_page import NOBODY, stop

DASHBOARD_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "dashboard"))
NODE = shutil.which("node")
NPM = shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
BUILD_DIR = os.path.dirname(os.path.abspath(PURGEQD)) if os.path.isabs(PURGEQD) else os.getcwd()


def install_puppeteer():
    """npm ci from the lockfile, once per checkout (puppeteer-core downloads no browser)."""
    if os.path.isdir(os.path.join(DASHBOARD_DIR, "node_modules", "puppeteer-core")):
        return
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DASHBOARD_DIR,
                   check=True, timeout=300)


def finish(browser):
    browser.kill()
    browser.wait(30)
    for pipe in (browser.stdin, browser.stdout, browser.stderr):
        pipe.close()


@unittest.skipUnless(NODE and NPM and CHROMIUM, "node, npm and chromium are needed")
class StatusPageBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_puppeteer()

    def browse(self, url, screenshot, *flags, stdin=None, intent=None):
        env = dict(os.environ, CHROMIUM=CHROMIUM)
        if intent:
            env["INTENT_ID"] = intent
        return subprocess.Popen([NODE, os.path.join(DASHBOARD_DIR, "status_page_check.mjs"), url,
                                 screenshot, *flags], cwd=DASHBOARD_DIR, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def report(self, browser):
        line = browser.stdout.readline()
        if not line:
            browser.wait(30)
            self.fail("the browser reported nothing: " + browser.stderr.read())
        return json.loads(line)

    def test_the_page_shows_the_status_and_an_admin_can_retry(self):
        scene = Scene(self, metrics=False, tcp=False)
        proc, url = scene.dashboard()
        self.addCleanup(stop, proc)
        screenshot = os.path.join(BUILD_DIR, "status-page.png")
        browser = self.browse(url, screenshot, "retry", "unreachable", intent=scene.paused_id)
        self.addCleanup(finish, browser)
        page = self.report(browser)
        _, status = scene.daemon.request("GET", "/v1/status")
        print(f"\nstatus page: {json.dumps({k: page[k] for k in ('pending', 'in_flight', 'failed_items', 'accounts')})}")
        print(f"purgeq status: {scene.daemon.cli('status').stdout}")

        self.assertEqual(page["problems"], [], "no script errors, CSP violations or external loads")
        self.assertEqual(page["refused"], [])
        self.assertEqual(page["pending"], BACKLOG)
        self.assertEqual(page["pending"], status["pending"])
        self.assertEqual(page["failed_items"], FAILED)
        self.assertEqual(page["in_flight"], 0)
        acct1, acct2 = page["accounts"]["acct1"], page["accounts"]["acct2"]
        self.assertEqual(acct1["state"], "ok")
        self.assertEqual(acct1["plan"], "enterprise")
        self.assertEqual(acct2["state"], "paused")
        self.assertIn("paused: HTTP 403 code 10000: Authentication error, for ", acct2["state_text"])
        self.assertTrue(acct1["flex"].endswith("/ 500"), acct1["flex"])
        self.assertIn("/ 1,200", acct1["global"])
        self.assertIn(["c.example", "normal", "25", "0", "0", "0", "0", "0"],
                      [row[:8] for row in page["queue"]])
        self.assertEqual(page["chart"]["purged_points"], 900)
        self.assertEqual(page["chart"]["polyline"], 1)
        # The current second is not shown: the purges may still be in it at the first poll.
        self.assertIn(page["chart"]["purged_max"], range(0, PURGED + 1))
        self.assertGreaterEqual(len(page["errors"]), 1, "the paused account's auth error")
        self.assertEqual(len(page["failed"]), FAILED)
        self.assertIn("https://a.example/poison", page["failed"][0][3])
        self.assertTrue(page["retry_visible"])
        self.assertTrue(any(line.startswith("waiting: account acct2 is paused")
                            for line in page["intent"]), page["intent"])
        self.assertEqual(page["retry_result"], "requeued 1 failed items")
        self.assertTrue(os.path.getsize(screenshot) > 10000)

        scene.daemon.terminate()
        browser.stdin.write("stopped\n")
        browser.stdin.flush()
        after = self.report(browser)
        self.assertIn("purgeqd is unreachable since", after["unreachable"])
        self.assertEqual(after["live"], "unreachable")

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_no_retry_button_for_a_user_who_is_not_an_admin(self):
        scene = Scene(self, metrics=False, tcp=False)
        proc, url = scene.dashboard(
            argv_prefix=["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"])
        self.addCleanup(stop, proc)
        browser = self.browse(url, os.path.join(BUILD_DIR, "status-page-viewer.png"))
        self.addCleanup(finish, browser)
        page = self.report(browser)
        self.assertEqual(page["problems"], [])
        self.assertEqual(page["refused"], ["403 /v1/failed"], "purgeqd refuses the list, not the page")
        self.assertEqual(page["pending"], BACKLOG)
        self.assertEqual(page["failed_items"], FAILED)
        self.assertFalse(page["retry_visible"])
        self.assertEqual(page["failed"], [])
        self.assertIn("admin", page["failed_summary"])


if __name__ == "__main__":
    unittest.main()
