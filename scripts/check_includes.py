#!/usr/bin/env python3
"""Fails when a folder of daemon/ includes one it must not, or a header exposes a third-party C API.

The rules are read from the table in docs/architecture.md (between the `include-rules` markers), so
the document and the check cannot drift apart. Usage: scripts/check_includes.py [repo root]."""

import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
DOC = ROOT / "docs" / "architecture.md"
# C libraries whose types must stay inside the .cpp that wraps them: a header that includes one
# makes every includer compile against (and depend on) that library.
PRIVATE_C_HEADERS = re.compile(r"#include\s*<(sqlite3\.h|curl/|systemd/|libpq)")
# yaml-cpp is C++ and the strict-YAML layer's interface is made of its nodes, but nothing outside
# config/ may see it: the rest of the daemon reads the typed Config.
YAML_HEADER = re.compile(r"#include\s*(<yaml-cpp/|\"config/strict_yaml\.h\")")
INCLUDE = re.compile(r'^\s*#\s*include\s*"(([a-z_]+)/[^"]+)"', re.M)


def read_rules():
    text = DOC.read_text()
    match = re.search(r"<!-- include-rules -->(.*?)<!-- /include-rules -->", text, re.S)
    if not match:
        sys.exit(f"check_includes: no include-rules table in {DOC}")
    rules = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`/")
        # `folder/` allows the whole folder; `folder/file.h` only that header.
        allowed = set(re.findall(r"`([a-z_]+/(?:[a-z_]+\.h)?)`", cells[1]))
        rules[folder] = allowed
    return rules


def main():
    rules = read_rules()
    daemon = ROOT / "daemon"
    problems = []
    folders = sorted(p.name for p in daemon.iterdir() if p.is_dir())
    for folder in folders:
        if folder not in rules:
            problems.append(f"daemon/{folder}/ is not in the table of docs/architecture.md")
    for folder in rules:
        if folder not in folders:
            problems.append(f"docs/architecture.md names daemon/{folder}/, which does not exist")
    for path in sorted(daemon.rglob("*")):
        if path.suffix not in (".h", ".cpp"):
            continue
        folder = path.relative_to(daemon).parts[0]
        text = path.read_text()
        allowed = rules.get(folder, set())
        for header, included in INCLUDE.findall(text):
            if included != folder and f"{included}/" not in allowed and header not in allowed:
                problems.append(f"{path.relative_to(ROOT)}: includes {header}, which "
                                f"{folder}/ may not (docs/architecture.md)")
        if folder != "config" and YAML_HEADER.search(text):
            problems.append(f"{path.relative_to(ROOT)}: includes yaml-cpp or the strict-YAML "
                            "layer; outside config/ read the typed Config")
        if path.suffix == ".h":
            for match in PRIVATE_C_HEADERS.finditer(text):
                problems.append(f"{path.relative_to(ROOT)}: a header includes <{match.group(1)}...>;"
                                " keep that C API inside the .cpp that wraps it")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check_includes: {len(folders)} folders of daemon/ keep to docs/architecture.md")


if __name__ == "__main__":
    main()
