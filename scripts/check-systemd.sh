#!/usr/bin/env bash
# Checks the shipped units: systemd-analyze verify on both, and the service's exposure score
# from systemd-analyze security must be 2.0 or lower.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${PURGEQ_BUILD_DIR:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify insists that ExecStart's binary exists: point the units at the build.
sed "s|/usr/bin/purgeqd|$(realpath "$build_dir")/purgeqd|g" systemd/purgeq.service >"$work/purgeq.service"
cp systemd/purgeq.socket "$work/purgeq.socket"
systemd-analyze verify --man=no "$work/purgeq.socket" "$work/purgeq.service"
echo "check-systemd: systemd-analyze verify: OK"
# Access rules read the submitter's uid from SO_PEERCRED; in a private user namespace every other
# uid reads as 65534 (nobody) and the rules would refuse everyone.
if grep -Eq '^PrivateUsers=(yes|true|1|on|self|identity|full)' systemd/purgeq.service; then
  echo "check-systemd: purgeq.service sets PrivateUsers=, which hides submitters' uids" >&2
  exit 1
fi
out=$(systemd-analyze security --offline=true "$work/purgeq.service" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "check-systemd: exposure ${score:-unknown}"
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  printf '%s\n' "$out"
  echo "check-systemd: exposure ${score:-unknown} is above 2.0" >&2
  exit 1
fi
echo "check-systemd: systemd-analyze security: ${score} <= 2.0 OK"
