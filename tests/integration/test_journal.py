"""Structured logging under systemd: with JOURNAL_STREAM naming its stderr, purgeqd sends each event
to journald with one field per key (EVENT=, ZONE=, INTENT=, ...); without it, or when the journal
refuses, the same event is a logfmt line on stderr.

There is no journald on the test machines, so a fake one binds journald's native socket and parses
the protocol (systemd's "Native Journal Protocol": KEY=value lines, or KEY, a little-endian 64-bit
length and the raw value for values with newlines)."""

import os
import socket
import struct
import threading
import unittest

from harness import DaemonFixture, wait_until

JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = os.path.join(JOURNAL_DIR, "socket")


def parse_native(datagram):
    fields, i = {}, 0
    while i < len(datagram):
        newline = datagram.index(b"\n", i)
        line = datagram[i:newline]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = newline + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", datagram, newline + 1)
            start = newline + 9
            value = datagram[start:start + size]
            i = start + size + 1
        fields[key.decode()] = value.decode()
    return fields


class FakeJournal:
    def __init__(self):
        self.created_dir = not os.path.isdir(JOURNAL_DIR)
        os.makedirs(JOURNAL_DIR, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(JOURNAL_SOCKET)
        self.sock.settimeout(0.2)
        self.entries = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.entries.append(parse_native(data))

    def events(self, name):
        with self.lock:
            return [e for e in self.entries if e.get("EVENT") == name]

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink(JOURNAL_SOCKET)
        if self.created_dir:
            os.rmdir(JOURNAL_DIR)


def journal_stream_of(path):
    """What systemd would put in JOURNAL_STREAM for a stderr connected to `path`."""
    open(path, "a").close()
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


@unittest.skipUnless(os.geteuid() == 0, "binding journald's socket needs root")
class JournalTest(unittest.TestCase):
    def setUp(self):
        if os.path.exists(JOURNAL_SOCKET):
            self.skipTest("a real journald is running here; this test fakes one")

    def test_events_become_journal_fields(self):
        journal = FakeJournal()
        self.addCleanup(journal.close)
        daemon = DaemonFixture(self, dry_run=True)
        daemon.start(extra_env={"JOURNAL_STREAM": journal_stream_of(daemon.log_path)})
        status, body = daemon.submit({"zone": "a.example", "tags": ["journal-tag"]})
        self.assertEqual(status, 202, body)
        wait_until(lambda: journal.events("intent_accepted"), what="intent_accepted in the journal")
        accepted = journal.events("intent_accepted")[0]
        self.assertEqual(accepted["INTENT"], body["id"])
        self.assertEqual(accepted["UID"], str(os.getuid()))
        self.assertEqual(accepted["PRIORITY"], "6")
        self.assertEqual(accepted["SYSLOG_IDENTIFIER"], "purgeqd")
        self.assertTrue(accepted["MESSAGE"].startswith(f"event=intent_accepted id={body['id']} "))
        wait_until(lambda: journal.events("batch_dry_run"), what="batch_dry_run in the journal")
        sent = journal.events("batch_dry_run")[0]
        self.assertEqual(sent["ZONE"], "a.example")
        self.assertEqual(sent["KIND"], "tag")
        self.assertTrue(journal.events("ready"))
        # Sent to the journal, so not written twice through the stderr stream.
        self.assertNotIn("event=intent_accepted", daemon.logs())

    def test_stderr_when_the_journal_refuses(self):
        # JOURNAL_STREAM names stderr but journald's socket is missing (libsystemd would drop the
        # entries silently).
        daemon = DaemonFixture(self, dry_run=True)
        daemon.start(extra_env={"JOURNAL_STREAM": journal_stream_of(daemon.log_path)})
        status, body = daemon.submit({"zone": "a.example", "tags": ["fallback-tag"]})
        self.assertEqual(status, 202, body)
        wait_until(lambda: f"event=intent_accepted id={body['id']}" in daemon.logs(),
                   what="intent_accepted on stderr")


class StderrTest(unittest.TestCase):
    def test_stale_journal_stream_means_stderr(self):
        # Inherited from a unit but stderr was redirected since: the stream no longer matches.
        daemon = DaemonFixture(self, dry_run=True)
        daemon.start(extra_env={"JOURNAL_STREAM": "1:1"})
        status, body = daemon.submit({"zone": "a.example", "tags": ["stderr-tag"]})
        self.assertEqual(status, 202, body)
        wait_until(lambda: f"event=intent_accepted id={body['id']}" in daemon.logs(),
                   what="intent_accepted on stderr")
        self.assertRegex(daemon.logs(), r"<5>event=ready ")


if __name__ == "__main__":
    unittest.main()
