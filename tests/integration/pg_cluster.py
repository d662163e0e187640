"""A throwaway PostgreSQL cluster for tests: initdb and pg_ctl in a temp dir, listening only on a
Unix socket in that dir, owned by an unprivileged user (initdb refuses root: as root, the server
runs as `nobody`). No system service is touched."""

import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

PG_BIN = os.environ.get("PURGEQ_PG_BIN", "/usr/lib/postgresql/15/bin")


def require_postgres():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        raise unittest.SkipTest(f"PostgreSQL binaries not found in {PG_BIN} (install "
                                "postgresql-15 or set PURGEQ_PG_BIN)")


class Cluster:
    def __init__(self):
        require_postgres()
        self.dir = tempfile.mkdtemp(prefix="purgeq-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.user = None
        if os.geteuid() == 0:
            self.user = "nobody"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.dir, 0o755)
        self._as_server([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                         "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"])
        self.start()

    def _as_server(self, argv, check=True):
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=60)

    def start(self):
        # fsync off: the tests check what the daemon acknowledges, not the disk's honesty, and
        # this keeps them fast. synchronous_commit stays at its default (on).
        self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                         "-o", f"-k {self.dir} -c listen_addresses='' -c fsync=off", "start"])

    def stop(self, mode="fast"):
        return self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                         "stop"], check=False)

    def require_password_for(self, role):
        """`role` must authenticate with its password (scram) on the socket; others are trusted."""
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            f.write(f"local all {role} scram-sha-256\n" + rules)
        self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "reload"])
        self.psql("SELECT 1")  # the reload is asynchronous; pg_hba is read per connection

    def dsn(self, db="postgres"):
        return f"host={self.dir} dbname={db} user=postgres"

    def psql(self, sql, db="postgres"):
        result = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-At", "-v",
                                 "ON_ERROR_STOP=1", "-d", self.dsn(db), "-c", sql],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
