#!/usr/bin/env bash
# Builds purgeq's Debian package: installs the missing build dependencies from Debian (apt-get
# build-dep on debian/control), copies the tree to build-deb/src (so that dpkg-buildpackage's
# outputs, which go to the parent of the source directory, stay out of the worktree and its
# parent, and so that ccache sees one fixed path), and runs dpkg-buildpackage -us -uc -b.
#   scripts/build-deb.sh        -> build-deb/purgeq_<version>_<arch>.deb (path printed last)
# PURGEQ_DEB_DIR overrides build-deb/. Uses ccache when installed (CCACHE_DIR as you set it).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=${PURGEQ_DEB_DIR:-$top/build-deb}

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
for tool in dpkg-buildpackage dh; do
  if ! command -v "$tool" >/dev/null; then
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      dpkg-dev debhelper build-essential
    break
  fi
done
if ! dpkg-checkbuilddeps debian/control >/dev/null 2>&1; then
  echo "build-deb: installing build dependencies"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get build-dep -y -qq --no-install-recommends "$top"
fi

# A clean copy of the tracked and new (not ignored) files; the obj-* build directory inside it
# is kept between runs so that a rebuild only recompiles what changed.
mkdir -p "$out/src"
rm -f "$out"/purgeq_*.deb "$out"/purgeq-dbgsym_*.deb "$out"/purgeq_*.changes \
  "$out"/purgeq_*.buildinfo
find "$out/src" -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$out/src"

export CCACHE_BASEDIR=$out/src
cd "$out/src"
# -b: binary only; -us -uc: unsigned. Parallel on every core.
dpkg-buildpackage -us -uc -b -j"$(nproc)"
deb=$(ls "$out"/purgeq_*.deb)
echo "build-deb: $deb"
