#!/usr/bin/env bash
# Checks the shipped units: systemd-analyze verify on all four, the permission model's invariants
# (docs/operations.md "Permissions"), the hooks' boundary (docs/operations.md "Security": hooks go
# to purgeq-hookd, which runs as its own user without credentials and cannot see purgeq's files),
# and each service's exposure score from systemd-analyze security, which must be 2.0 or lower.
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
render systemd/purgeq-hookd.service.in "$work/purgeq-hookd.service"
render systemd/purgeq-hookd.socket.in "$work/purgeq-hookd.socket"
systemd-analyze verify --man=no "$work/purgeq.socket" "$work/purgeq.service" \
  "$work/purgeq-hookd.socket" "$work/purgeq-hookd.service"
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

# Hooks apart from the keys. purgeqd sends command hooks to purgeq-hookd's socket...
fail() {
  echo "check-systemd: $*" >&2
  exit 1
}
value() { sed -n "s/^$1=//p" "$work/$2"; }
hooks_socket=$(value ListenStream purgeq-hookd.socket)
case " $(value ExecStart purgeq.service) " in
  *" --hookd-socket $hooks_socket "*) ;;
  *) fail "purgeq.service's ExecStart= does not pass --hookd-socket $hooks_socket: hooks would run as purgeqd" ;;
esac
grep -Eq "^(Wants|Requires)=.*purgeq-hookd\.socket" "$work/purgeq.service" ||
  fail "purgeq.service does not pull in purgeq-hookd.socket"
# ... which only purgeqd's user may open, and which purgeq-hookd serves to that user alone ...
service_user=$(value User purgeq.service)
[ "$(value SocketUser purgeq-hookd.socket) $(value SocketMode purgeq-hookd.socket)" = "$service_user 0600" ] ||
  fail "purgeq-hookd.socket must be 0600 and owned by $service_user"
case " $(value ExecStart purgeq-hookd.service) " in
  *" --allow-user $service_user "*) ;;
  *) fail "purgeq-hookd.service does not serve $service_user alone (--allow-user)" ;;
esac
# ... run as a user of their own, without credentials, with purgeq's files out of sight; and
# without PrivateUsers=, under which purgeqd's uid would read as nobody and be refused.
hook_user=$(value User purgeq-hookd.service)
[ -n "$hook_user" ] && [ "$hook_user" != "$service_user" ] && [ "$hook_user" != root ] ||
  fail "purgeq-hookd.service must run as a user of its own, not '${hook_user:-root}'"
grep -q "^u $hook_user " systemd/purgeq.sysusers || fail "sysusers.d does not create $hook_user"
if grep -Eq '^(LoadCredential|LoadCredentialEncrypted|SetCredential|SetCredentialEncrypted|ImportCredential)=' \
  "$work/purgeq-hookd.service"; then
  fail "purgeq-hookd.service hands credentials to the hooks"
fi
if grep -Eq '^(SupplementaryGroups|DynamicUser|PermissionsStartOnly)=' "$work/purgeq-hookd.service"; then
  fail "purgeq-hookd.service must not add groups or change users"
fi
if grep -Eq '^PrivateUsers=(yes|true|1|on|self|identity|full)' "$work/purgeq-hookd.service"; then
  fail "purgeq-hookd.service sets PrivateUsers=: purgeqd's uid would read as nobody"
fi
hidden=" $(value InaccessiblePaths purgeq-hookd.service | tr '\n' ' ' | sed 's/-\//\//g') "
for path in /etc/purgeq /var/lib/purgeq /run/purgeq /run/credentials; do
  case $hidden in *" $path "*) ;; *) fail "purgeq-hookd.service does not hide $path (InaccessiblePaths=)" ;; esac
done
[ "$(value ProtectProc purgeq-hookd.service)" = invisible ] ||
  fail "purgeq-hookd.service must set ProtectProc=invisible (hide purgeqd's /proc entries)"
echo "check-systemd: hooks run through $hooks_socket as $hook_user, without credentials or purgeq's files: OK"

for unit in purgeq.service purgeq-hookd.service; do
  out=$(systemd-analyze security --offline=true "$work/$unit" 2>&1)
  score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "check-systemd: $unit exposure ${score:-unknown}"
  if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    printf '%s\n' "$out"
    echo "check-systemd: $unit exposure ${score:-unknown} is above 2.0" >&2
    exit 1
  fi
  echo "check-systemd: systemd-analyze security $unit: ${score} <= 2.0 OK"
done
