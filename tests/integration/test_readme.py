"""The README's usage examples, verbatim: with the development daemon running as
`scripts/setup.sh --run` runs it (config/purgeq.dev.yaml, from the checkout), the README's second
shell block must succeed line by line in another shell at the checkout's root."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import PURGEQ, PURGEQD, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def readme_examples():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    # The first block is the two set-up commands; the second, the usage examples.
    return blocks[1]


class ReadmeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="purgeq-readme-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # A checkout in miniature: the dev config, build/ with the binaries, and a history in
        # which the last commit changed a file under public/.
        os.makedirs(os.path.join(self.dir, "config"))
        shutil.copy(os.path.join(ROOT, "config", "purgeq.dev.yaml"), os.path.join(self.dir, "config"))
        build = os.path.join(self.dir, "build")
        os.makedirs(build)
        for binary in (PURGEQ, PURGEQD):
            os.symlink(binary, os.path.join(build, os.path.basename(binary)))
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(git[:1] + ["init", "-q"], cwd=self.dir, check=True)
        os.makedirs(os.path.join(self.dir, "public", "css"))
        for content in ("a {}\n", "a { color: red }\n"):
            with open(os.path.join(self.dir, "public", "css", "site.css"), "w") as f:
                f.write(content)
            with open(os.path.join(self.dir, "README.md"), "a") as f:
                f.write("changed outside public/ too\n")
            subprocess.run(git + ["add", "-A"], cwd=self.dir, check=True)
            subprocess.run(git + ["commit", "-qm", "deploy"], cwd=self.dir, check=True)
        # What scripts/setup.sh --run does after building.
        os.makedirs(os.path.join(self.dir, "run"))
        self.log = open(os.path.join(self.dir, "purgeqd.log"), "w")
        self.daemon = subprocess.Popen(
            [os.path.join("build", "purgeqd"), "--config", "config/purgeq.dev.yaml"],
            cwd=self.dir, stdout=self.log, stderr=self.log)
        self.addCleanup(self.stop)
        wait_until(lambda: os.path.exists(os.path.join(self.dir, "run", "purgeq.sock")),
                   timeout=20, what="the development daemon's socket")

    def stop(self):
        self.daemon.send_signal(signal.SIGTERM)
        self.daemon.wait(timeout=30)
        self.log.close()

    def test_examples_succeed_verbatim(self):
        env = {k: v for k, v in os.environ.items() if k != "PURGEQ_SOCKET"}
        script = readme_examples()
        self.assertIn("purgeq url", script)
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.dir,
                                env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        with open(os.path.join(self.dir, "purgeqd.log")) as f:
            log = f.read()
        # Three intents: two URLs, one tag, and the deploy's changed file (README.md left out).
        self.assertEqual(log.count("event=intent_accepted"), 3, log)
        self.assertIn("https://www.example.com/css/site.css", log)
        self.assertNotIn("README.md", log)
        self.assertIn("queue:", result.stdout, "purgeq status printed its summary")
        # Every step says what it did (issue 20): the receipts, the wait's outcome.
        self.assertRegex(result.stdout, r"^queued 2 items as intent \S+\n")
        self.assertIn("done: 1 purged\n", result.stdout)
        self.assertEqual(result.stdout.count("queued 1 item as intent"), 2, result.stdout)

    def test_the_deploy_recipe_says_when_there_is_nothing_to_purge(self):
        # The last commit changed nothing under public/: the recipe says so rather than nothing.
        with open(os.path.join(self.dir, "README.md"), "a") as f:
            f.write("docs only\n")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(git + ["commit", "-qam", "docs"], cwd=self.dir, check=True)
        env = {k: v for k, v in os.environ.items() if k != "PURGEQ_SOCKET"}
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", readme_examples()],
                                cwd=self.dir, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no files changed under public/ in the last commit: nothing to purge\n",
                      result.stdout)


if __name__ == "__main__":
    unittest.main()
