"""scripts/check_includes.py must catch what it exists to catch: a forbidden folder include, a header
exposing a C API, and a folder missing from docs/architecture.md."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "check_includes.py"


class CheckIncludesTest(unittest.TestCase):
    def setUp(self):
        self.tree = pathlib.Path(tempfile.mkdtemp(prefix="purgeq-includes-"))
        self.addCleanup(shutil.rmtree, self.tree)
        (self.tree / "docs").mkdir()
        shutil.copy(ROOT / "docs" / "architecture.md", self.tree / "docs")
        shutil.copytree(ROOT / "daemon", self.tree / "daemon")

    def check(self):
        return subprocess.run([sys.executable, str(SCRIPT), str(self.tree)], capture_output=True,
                              text=True)

    def write(self, relative, text):
        path = self.tree / relative
        path.write_text(path.read_text() + text if path.exists() else text)

    def test_the_real_tree_passes(self):
        result = self.check()
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_intake_including_the_dispatcher_fails(self):
        self.write("daemon/intake/api.cpp", '\n#include "dispatch/dispatcher.h"\n')
        result = self.check()
        self.assertEqual(result.returncode, 1)
        self.assertIn("daemon/intake/api.cpp: includes dispatch/dispatcher.h", result.stderr)

    def test_only_the_named_header_of_a_folder(self):
        self.write("daemon/dispatch/dispatcher.cpp", '\n#include "intake/listener.h"\n')
        result = self.check()
        self.assertEqual(result.returncode, 1)
        self.assertIn("includes intake/listener.h", result.stderr)

    def test_a_header_exposing_sqlite_fails(self):
        self.write("daemon/store/store.h", "\n#include <sqlite3.h>\n")
        result = self.check()
        self.assertEqual(result.returncode, 1)
        self.assertIn("daemon/store/store.h: a header includes <sqlite3.h", result.stderr)

    def test_yaml_outside_config_fails(self):
        self.write("daemon/intake/api.cpp", "\n#include <yaml-cpp/yaml.h>\n")
        result = self.check()
        self.assertEqual(result.returncode, 1)
        self.assertIn("daemon/intake/api.cpp: includes yaml-cpp", result.stderr)

    def test_an_undocumented_folder_fails(self):
        os.mkdir(self.tree / "daemon" / "extra")
        result = self.check()
        self.assertEqual(result.returncode, 1)
        self.assertIn("daemon/extra/ is not in the table", result.stderr)


if __name__ == "__main__":
    unittest.main()
