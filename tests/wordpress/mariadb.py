"""A throwaway MariaDB server for tests: mariadb-install-db and mariadbd on a temp datadir,
listening only on a Unix socket in that dir (no TCP port), with durability traded for speed.
As root the server runs as `nobody` (mariadbd refuses root). No system service is touched."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import unittest

MARIADBD = os.environ.get("PURGEQ_MARIADBD", "/usr/sbin/mariadbd")
INSTALL_DB = os.environ.get("PURGEQ_MARIADB_INSTALL_DB", "/usr/bin/mariadb-install-db")
CLIENT = os.environ.get("PURGEQ_MARIADB_CLIENT", "/usr/bin/mariadb")

# The tests check what WordPress and purgeq do, not the disk's honesty: no flush per commit,
# no doublewrite, a small buffer pool (two cores and other tests share the machine).
SERVER_OPTIONS = ["--innodb-flush-log-at-trx-commit=0", "--skip-innodb-doublewrite",
                  "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
                  "--skip-name-resolve", "--skip-log-bin", "--character-set-server=utf8mb4"]


def require_mariadb():
    for path in (MARIADBD, INSTALL_DB, CLIENT):
        if not os.path.exists(path):
            raise unittest.SkipTest(f"{path} not found (scripts/test-wordpress.sh installs "
                                    "mariadb-server-core and mariadb-client)")


class MariaDB:
    def __init__(self):
        require_mariadb()
        self.dir = tempfile.mkdtemp(prefix="purgeq-mariadb-")
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mariadb.sock")
        self.log = os.path.join(self.dir, "server.log")
        self.pid_file = os.path.join(self.dir, "mariadb.pid")
        self.user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.dir, 0o755)
        self.proc = None
        started = time.monotonic()
        result = subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.data}", f"--user={self.user}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *SERVER_OPTIONS],
            capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise AssertionError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")
        self.install_s = time.monotonic() - started
        self.start()

    def start(self):
        self.log_file = open(self.log, "a")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
             "--skip-networking", f"--pid-file={self.pid_file}", f"--user={self.user}",
             f"--log-error={self.log}", *SERVER_OPTIONS],
            stdout=self.log_file, stderr=self.log_file)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mariadbd exited {self.proc.returncode}:\n{self._log_tail()}")
            if os.path.exists(self.socket) and self.sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"mariadbd did not come up within 60 s:\n{self._log_tail()}")

    def sql(self, statement, db=None, check=True):
        argv = [CLIENT, "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B",
                "-e", statement]
        if db:
            argv.append(db)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"mariadb {statement!r}: {result.stderr.strip()}")
        return result

    def create_database(self, name):
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return "(no log)"

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "log_file", None):
            self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)
