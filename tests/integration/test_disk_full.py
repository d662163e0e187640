"""A full disk: submissions are refused with 503 while it is full, accepted again within seconds
of space returning, without a restart, and nothing acknowledged is lost."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import DaemonFixture, wait_until


def mount_small_volume(test, size="8m"):
    """A tmpfs of `size` (needs root and mount rights: skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        test.skipTest("needs root to mount a small volume")
    path = tempfile.mkdtemp(prefix="purgeq-small-")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                            capture_output=True, text=True)
    if result.returncode != 0:
        os.rmdir(path)
        test.skipTest(f"cannot mount a tmpfs here: {result.stderr.strip()}")

    def unmount():
        subprocess.run(["umount", "-l", path], capture_output=True)
        os.rmdir(path)
    test.addCleanup(unmount)
    return path


def fill_volume(path):
    """Writes a filler file until the volume is full, down to the last block; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


class DiskFullTest(unittest.TestCase):
    def test_full_volume_refuses_then_recovers_without_restart_and_loses_nothing(self):
        volume = mount_small_volume(self)
        daemon = DaemonFixture(self, extra={"storage": {"path": os.path.join(volume, "queue.db")}})
        daemon.start()  # the upstream is unreachable: everything stays queued
        accepted = []
        for i in range(20):
            code, body = daemon.submit({"files": [f"https://a.example/before/{i}/{j}"
                                                  for j in range(50)]})
            self.assertEqual(code, 202, body)
            accepted.append(body["id"])

        filler = fill_volume(volume)
        refused = 0
        for i in range(200):
            code, body = daemon.submit({"files": [f"https://a.example/full/{i}/{j}"
                                                  for j in range(50)]})
            if code == 202:
                accepted.append(body["id"])  # it fitted in what was left: it must survive
            else:
                self.assertEqual(code, 503, body)
                self.assertEqual(body["error"]["code"], "disk_full", body)
                refused += 1
                if refused >= 3:
                    break
        self.assertGreaterEqual(refused, 3, "a full disk must refuse new intents")
        code, _ = daemon.request("GET", "/v1/status")
        self.assertEqual(code, 200, "status still answers on a full disk")

        os.remove(filler)
        freed = time.monotonic()

        def accepted_again():
            code, body = daemon.submit({"files": ["https://a.example/after"]})
            return code == 202 and body
        body = wait_until(accepted_again, timeout=15, interval=0.2, what="202 after freeing space")
        self.assertLess(time.monotonic() - freed, 5.0, "intake reopens within 5 s of free space")
        accepted.append(body["id"])

        # Nothing acknowledged was lost, before or after a restart.
        for intent_id in accepted:
            code, intent = daemon.intent(intent_id)
            self.assertEqual(code, 200, intent)
        self.assertEqual(daemon.terminate(), 0)
        daemon.start()
        for intent_id in accepted:
            code, intent = daemon.intent(intent_id)
            self.assertEqual(code, 200, intent)
            # Still waiting for the unreachable upstream (the restarted daemon may have taken it).
            self.assertIn(intent["status"], ("queued", "in_flight"), intent)

    def test_a_volume_filled_by_the_queue_itself_recovers_when_it_grows(self):
        # The queue fills a small volume by itself (its log used to wedge it for good: 503
        # forever, even after restarts). It refuses new intents, keeps what it acknowledged, and
        # takes intents again within seconds once the volume has room, without a restart.
        volume = mount_small_volume(self, size="4m")
        daemon = DaemonFixture(self, extra={"storage": {"path": os.path.join(volume, "queue.db")}})
        daemon.start()
        accepted, refused = [], 0
        for i in range(600):
            code, body = daemon.submit({"files": [f"https://a.example/{i}/{j}/" + "x" * 200
                                                  for j in range(40)]})
            if code == 202:
                accepted.append(body["id"])
            else:
                self.assertEqual(code, 503, body)
                self.assertEqual(body["error"]["code"], "disk_full", body)
                refused += 1
                if refused >= 3:
                    break
        self.assertGreaterEqual(refused, 3, "the volume never filled; make the test write more")
        code, _ = daemon.request("GET", "/v1/status")
        self.assertEqual(code, 200, "status still answers on a full disk")

        # A restart on the full volume: purgeqd starts (recovery needs a write, and used to stop
        # it), answers queries and takes intents only if the clean stop freed room (closing
        # checkpoints and removes the log).
        self.assertEqual(daemon.terminate(), 0)
        daemon.start()
        code, status = daemon.request("GET", "/v1/status")
        self.assertEqual(code, 200, status)
        code, intent = daemon.intent(accepted[0])
        self.assertEqual(code, 200, intent)
        code, body = daemon.submit({"files": ["https://a.example/while-full"]})
        self.assertIn(code, (202, 503), body)
        if code == 202:
            accepted.append(body["id"])

        subprocess.run(["mount", "-o", "remount,size=16m", volume], check=True)
        grown = time.monotonic()

        def accepted_again():
            code, body = daemon.submit({"files": ["https://a.example/again"]})
            return code == 202 and body
        body = wait_until(accepted_again, timeout=15, interval=0.2,
                          what="intake to reopen once the volume has room")
        self.assertLess(time.monotonic() - grown, 5.0, "intake reopens within 5 s of free space")
        accepted.append(body["id"])
        self.assertEqual(daemon.terminate(), 0)
        daemon.start()
        for intent_id in accepted:
            code, intent = daemon.intent(intent_id)
            self.assertEqual(code, 200, intent)


if __name__ == "__main__":
    unittest.main()
