#!/usr/bin/env bash
# Checks the shipped units: systemd-analyze verify on both, the permission model's invariants
# (docs/operations.md "Permissions"), and the service's exposure score from systemd-analyze
# security, which must be 2.0 or lower.
# The units are templates (systemd/*.in, filled in by cmake/install.cmake); this renders them with
# the build directory's binaries, since verify insists that ExecStart's binary exists.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${PURGEQ_BUILD_DIR:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
render() {
  sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@|$(realpath "$build_dir")|g" \
    -e "s|@CMAKE_INSTALL_FULL_SYSCONFDIR@|/etc|g" "$1" >"$2"
  if grep -n '@[A-Z_]*@' "$2"; then
    echo "check-systemd: $1 has a placeholder this script does not know" >&2
    exit 1
  fi
}
render systemd/purgeq.service.in "$work/purgeq.service"
render systemd/purgeq.socket.in "$work/purgeq.socket"
systemd-analyze verify --man=no "$work/purgeq.socket" "$work/purgeq.service"
echo "check-systemd: systemd-analyze verify: OK"
# Access rules read the submitter's uid from SO_PEERCRED; in a private user namespace every other
# uid reads as 65534 (nobody) and the rules would refuse everyone.
if grep -Eq '^PrivateUsers=(yes|true|1|on|self|identity|full)' "$work/purgeq.service"; then
  echo "check-systemd: purgeq.service sets PrivateUsers=, which hides submitters' uids" >&2
  exit 1
fi
# The socket's directory must not be the service's RuntimeDirectory=: systemd re-owns that
# directory's contents to the service's user when it starts, and the socket would lose its group.
socket_dir=$(sed -n 's|^ListenStream=/run/\([^/]*\)/.*|\1|p' "$work/purgeq.socket")
if grep -Eq "^RuntimeDirectory=(.* )?${socket_dir}( |\$)" "$work/purgeq.service"; then
  echo "check-systemd: the socket lives in purgeq.service's RuntimeDirectory=/run/${socket_dir}," \
    "which systemd re-owns to the service's user: the socket would lose group purgeq" >&2
  exit 1
fi
# The config is readable by the service's group only (0640 root:purgeqd): not a DynamicUser=.
if grep -Eq '^DynamicUser=(yes|true|1|on)' "$work/purgeq.service"; then
  echo "check-systemd: DynamicUser= cannot read /etc/purgeq/purgeq.yaml (0640 root:purgeqd)" >&2
  exit 1
fi
echo "check-systemd: permission model (no PrivateUsers=, socket outside RuntimeDirectory=, static user): OK"
out=$(systemd-analyze security --offline=true "$work/purgeq.service" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "check-systemd: exposure ${score:-unknown}"
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  printf '%s\n' "$out"
  echo "check-systemd: exposure ${score:-unknown} is above 2.0" >&2
  exit 1
fi
echo "check-systemd: systemd-analyze security: ${score} <= 2.0 OK"
