# Sourced by scripts/test-package.sh (step 5), after its permission step: the issue's check that a
# command hook, run as under the shipped units, cannot read purgeqd's keys.
#
# There is no systemd as PID 1 here, so the units are emulated from what they say, read from the
# unpacked package (a change to them changes this test):
#   purgeq-hookd.service  User= (the renamed purgeq-hook), no credentials, ExecStart='s
#                         --allow-user, InaccessiblePaths= (under the scratch root),
#                         ProtectProc=invisible + ProcSubset=pid (a fresh /proc with
#                         hidepid=invisible,subset=pid), NoNewPrivileges=, no capabilities; in
#                         a mount namespace of its own (unshare)
#   purgeq-hookd.socket   ListenStream= (under the scratch root), 0600 owned by purgeqd's user
#   purgeq.service        purgeqd as its user, no supplementary groups, UMask=0077, the token as a
#                         credential, the --hookd-socket of its ExecStart=
# Not emulated: the system-call filter, ProtectSystem=, IPAddressDeny=, PrivateTmp= (a fresh /tmp
# would hide this test's own scratch root) and the other settings that do not decide what a hook
# can read. What keeps the keys from a hook is its uid (modes of the
# files), the missing credentials, the hidden paths and the hidden /proc: all of those are here.
#
# Uses test-package.sh's: root work cfg creds token zone svc hookuser member submit pids fail as.

unit_dir=$root/lib/systemd/system
hookd_unit=$unit_dir/purgeq-hookd.service
hookd_socket_unit=$unit_dir/purgeq-hookd.socket
unit_value() { sed -n "s/^$1=//p" "$2"; }

# What the units must say for the boundary to hold at all.
[ "$(unit_value User "$hookd_unit")" = purgeq-hook ] || fail "purgeq-hookd.service: User= is not purgeq-hook"
if grep -Eq '^(LoadCredential|LoadCredentialEncrypted|SetCredential|ImportCredential)' "$hookd_unit"; then
  fail "purgeq-hookd.service hands credentials to the hooks"
fi
[ "$(unit_value ProtectProc "$hookd_unit")" = invisible ] || fail "purgeq-hookd.service: no ProtectProc=invisible"
inaccessible=$(unit_value InaccessiblePaths "$hookd_unit" | tr ' ' '\n' | sed 's/^-//')
for p in /etc/purgeq /var/lib/purgeq /run/purgeq /run/credentials; do
  printf '%s\n' "$inaccessible" | grep -qx "$p" || fail "purgeq-hookd.service leaves $p accessible"
done
hookd_exec=$(unit_value ExecStart "$hookd_unit")
[ "$hookd_exec" = "/usr/bin/purgeq-hookd --allow-user purgeqd" ] ||
  fail "purgeq-hookd.service runs '$hookd_exec'"
listen=$(unit_value ListenStream "$hookd_socket_unit")
[ "$(unit_value SocketMode "$hookd_socket_unit") $(unit_value SocketUser "$hookd_socket_unit")" = "0600 purgeqd" ] ||
  fail "purgeq-hookd.socket is not 0600 purgeqd"
daemon_exec=$(unit_value ExecStart "$unit_dir/purgeq.service")
case " $daemon_exec " in
  *" --hookd-socket $listen "*) ;;
  *) fail "purgeq.service does not send hooks to purgeq-hookd.socket ($listen): $daemon_exec" ;;
esac
echo "test-package: units: hooks go to $listen, served as purgeq-hook without credentials"

# What an operator keeps beside the config (configuration.md, scale-out.md): a client token and
# the PostgreSQL password, readable by the service.
install -d -m 0750 -o root -g "$svc" "$root/etc/purgeq/clients"
printf 'client-%s\n' "$token" >"$root/etc/purgeq/clients/deploy.token"
printf 'pg-%s\n' "$token" >"$root/etc/purgeq/pg.password"
chown root:"$svc" "$root/etc/purgeq/clients/deploy.token" "$root/etc/purgeq/pg.password"
chmod 0640 "$root/etc/purgeq/clients/deploy.token" "$root/etc/purgeq/pg.password"

# The hook: tries each read (and a write to the queue, and a ptrace of purgeqd), prints one line
# each. Its output reaches purgeqd's log (event=hook_output).
cat >"$work/probe" <<'PY'
#!/usr/bin/python3
import ctypes, os, sys
def report(label, action):
    try:
        action()
        print(f"[{label}]=read")
    except OSError as e:
        print(f"[{label}]=denied {e.strerror}")
def read(path):
    with open(path, "rb") as f:
        f.read(1)
def write(path):
    with open(path, "r+b"):
        pass
def ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(0x4206, pid, None, None) != 0:  # PTRACE_SEIZE; leaving detaches
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
with open(sys.argv[1]) as f:
    pid = int(f.read())
print(f"uid={os.getuid()}")
for arg in sys.argv[2:-3]:  # purgeqd appends the intent id, its zones and its status
    label, path = arg.split("=", 1)
    report(label, lambda: read(path))
    if label == "queue":
        report("queue-write", lambda: write(path))
report("environ", lambda: read(f"/proc/{pid}/environ"))
report("ptrace", lambda: ptrace(pid))
PY
chmod 0755 "$work/probe"
labels="credential token config client-token pg-password queue queue-write environ ptrace"
cat "$work/purgeq.yaml" - >"$work/purgeq-hooks.yaml" <<YAML
hooks:
  - name: probe
    command: ["$work/probe", "$work/purgeqd.pid",
              "credential=$creds/cloudflare-token", "token=$root/etc/purgeq/token",
              "config=$cfg", "client-token=$root/etc/purgeq/clients/deploy.token",
              "pg-password=$root/etc/purgeq/pg.password",
              "queue=$root/var/lib/purgeq/queue.db"]
    attempts: 1
YAML
install -m 0640 -o root -g "$svc" "$work/purgeq-hooks.yaml" "$cfg"

# purgeq-hookd.service, emulated: root sets up the namespace (what systemd does before the
# exec), then drops to the hook user for good.
hooks_sock=$root$listen
cat >"$work/hookd-unit.sh" <<'SH'
set -eu
mount -t proc -o hidepid=invisible,subset=pid proc /proc   # ProtectProc=invisible, ProcSubset=pid
for p in $INACCESSIBLE; do                                  # InaccessiblePaths=
  if [ -d "$ROOT$p" ]; then mount -t tmpfs -o ro,mode=000 inaccessible "$ROOT$p"; fi
done
umask 0077
exec setpriv --reuid="$HOOK_USER" --regid="$HOOK_USER" --clear-groups --inh-caps=-all \
  --bounding-set=-all --no-new-privs -- "$ROOT/usr/bin/purgeq-hookd" --allow-user "$ALLOW_USER"
SH
(umask 0177 && exec unshare --mount --propagation private -- systemd-socket-activate -l "$hooks_sock" \
  -E PATH=/usr/sbin:/usr/bin:/sbin:/bin -E ROOT="$root" -E INACCESSIBLE="$(echo $inaccessible)" \
  -E HOOK_USER="$hookuser" -E ALLOW_USER="$svc" /bin/sh "$work/hookd-unit.sh") \
  >"$work/hookd.log" 2>&1 &
hookd=$!
pids+=("$hookd")
for _ in $(seq 100); do [ -S "$hooks_sock" ] && break; sleep 0.1; done
[ -S "$hooks_sock" ] || fail "no hook socket: $(cat "$work/hookd.log")"
# SocketUser=/SocketGroup=/SocketMode= (until then root's 0644: only root may connect).
chown "$svc:$svc" "$hooks_sock" && chmod 0600 "$hooks_sock"
[ "$(stat -c '%a %U' "$hooks_sock")" = "600 $svc" ] || fail "hooks.sock is $(stat -c '%a %U' "$hooks_sock")"

# The socket keeps out everyone but purgeqd's user; purgeq-hookd refuses any other peer as well.
cat >"$work/hello" <<'PY'
#!/usr/bin/python3
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    sys.exit(f"connect: {e.strerror}")
s.settimeout(10)
answer = b""
while chunk := s.recv(4096):
    answer += chunk
# A result frame: 'R', size, ok, truncated, then the error, length-prefixed.
size = int.from_bytes(answer[7:11], "big")
print(answer[11:11 + size].decode(errors="replace"))
PY
chmod 0755 "$work/hello"
hello() { "$@" "$work/hello" "$hooks_sock" 2>&1; }
out=$(hello as "$member") && fail "a submitter could connect to $hooks_sock: $out"
case $out in *"Permission denied"*) ;; *) fail "a submitter was kept from hooks.sock by: $out" ;; esac
out=$(hello env) || fail "root could not reach purgeq-hookd: $out $(cat "$work/hookd.log")"
case $out in
  *"purgeq-hookd runs hooks for uid $(id -u "$svc") only, not for uid 0"*) ;;
  *) fail "purgeq-hookd did not refuse root: $out" ;;
esac
grep -q "event=hookd_peer_refused uid=0 " "$work/hookd.log" || fail "the refusal was not logged"
[ "$(ps -o uid= -p "$hookd" | tr -d ' ')" = "$(id -u "$hookuser")" ] || fail "purgeq-hookd does not run as $hookuser"
echo "test-package: purgeq-hookd runs as $hookuser; submitters cannot connect, root is refused and logged"

# purgeqd as purgeq.service runs it, with the unit's --hookd-socket; then, for contrast, without.
run_probe() { # run_probe NAME [ARGS...]: start purgeqd, submit, wait for the hook; its output in $work/NAME.out
  local name=$1 log=$work/purgeqd-$1.log out
  shift
  rm -f "$sock"
  (umask 0177 && exec systemd-socket-activate -l "$sock" -E CREDENTIALS_DIRECTORY="$creds" \
    setpriv --reuid="$svc" --regid="$svc" --clear-groups --inh-caps=-all -- \
    "$root/usr/bin/purgeqd" --config "$cfg" "$@") >"$log" 2>&1 &
  local daemon=$!
  pids+=("$daemon")
  echo "$daemon" >"$work/purgeqd.pid"
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  chown root:"$submit" "$sock" && chmod 0660 "$sock"
  out=$(as "$member" "$root/usr/bin/purgeq" --socket "$sock" --wait=60 url "https://www.$zone/hook-probe-$daemon" 2>&1) ||
    fail "could not submit: $out $(tail -5 "$log")"
  for _ in $(seq 300); do grep -q 'event=hook_\(succeeded\|failed\) hook=probe' "$log" && break; sleep 0.1; done
  grep -q 'event=hook_succeeded hook=probe' "$log" || fail "the probe hook did not succeed: $(grep hook "$log")"
  kill -TERM "$daemon"
  wait "$daemon" || fail "purgeqd did not exit 0: $(tail -5 "$log")"
  grep 'event=hook_output hook=probe' "$log" | tail -1 >"$work/$name.out"
}
run_probe hookd --hookd-socket "$hooks_sock"
helper_out=$(cat "$work/hookd.out")
echo "test-package: the hook through purgeq-hookd: $helper_out"
case $helper_out in *"uid=$(id -u "$hookuser")"*) ;; *) fail "the hook did not run as $hookuser" ;; esac
for label in $labels; do
  case $helper_out in
    *"[$label]=denied"*) ;;
    *) fail "a hook under the shipped units could $label: $helper_out" ;;
  esac
done
echo "test-package: a hook as $hookuser reads none of: $labels"

run_probe inprocess
inproc_out=$(cat "$work/inprocess.out")
echo "test-package: the same hook spawned by purgeqd itself: $inproc_out"
case $inproc_out in *"uid=$(id -u "$svc")"*) ;; *) fail "the in-process hook did not run as $svc" ;; esac
# What only the user boundary keeps from a hook: the contrast that makes the check above mean
# something. The token file stays root's either way, and purgeqd is not dumpable either way.
for label in credential config client-token pg-password queue queue-write; do
  case $inproc_out in
    *"[$label]=read"*) ;;
    *) fail "in-process, the hook could not $label; the check above proves nothing: $inproc_out" ;;
  esac
done
for label in token environ ptrace; do
  case $inproc_out in
    *"[$label]=denied"*) ;;
    *) fail "in-process, the hook could $label (purgeqd must not be dumpable): $inproc_out" ;;
  esac
done
echo "test-package: in-process (no --hookd-socket) the hook reads the credential, config, client" \
  "token, PostgreSQL password and queue: only the hook user keeps them out"
kill -TERM "$hookd"
wait "$hookd" || fail "purgeq-hookd did not exit 0 on SIGTERM: $(tail -5 "$work/hookd.log")"
