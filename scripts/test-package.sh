#!/usr/bin/env bash
# Tests the Debian package as CI runs it (root needed: throwaway users, setpriv):
#   1. builds it (scripts/build-deb.sh) and runs lintian (errors and unexplained warnings fail);
#   2. unpacks it into a scratch root (dpkg-deb -x) and checks the layout: binaries, units,
#      sysusers/tmpfiles entries, conffile and its mode, man pages, completion, docs, the PHP
#      client and the WordPress plugin (whose lib/ link must reach the client, also in a copy);
#   3. systemd-analyze verify --man=yes on the installed units, with the unpacked man pages;
#   4. the permission model, for real: the installed purgeqd runs as an unprivileged user the way
#      purgeq.service does (its own uid and private group, no supplementary groups, the token as a
#      credential), on a root-owned 0660 socket passed in like purgeq.socket does
#      (systemd-socket-activate), against the fake Cloudflare API; a user in the socket's group
#      submits (exit 0, purged), a user outside it is refused (exit 3, "Permission denied"); the
#      socket keeps its group across a reload; nobody but root reads the token or the config;
#   5. hooks apart from the keys: purgeq-hookd runs as the hook user under purgeq-hookd.service's
#      sandbox (as far as it can be had without systemd: user, no credentials, InaccessiblePaths=,
#      ProtectProc=invisible), purgeqd runs as its unit does with --hookd-socket
#      from its ExecStart=, and a command hook that tries to read the credentials, the token, the
#      config, a client token, the PostgreSQL password, the queue and purgeqd's /proc environ
#      (and to ptrace it) fails at each; the same hook spawned in-process by purgeqd reads them,
#      so the check would see the boundary go;
#   6. the bash completion (and zsh's, when zsh is installed) completes a partial subcommand.
#   scripts/test-package.sh            build, then test
#   PURGEQ_DEB=path.deb scripts/test-package.sh   test that .deb (no build)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
if [ "$(id -u)" -ne 0 ]; then
  echo "test-package: needs root (throwaway users, setpriv); run it with sudo" >&2
  exit 2
fi
missing=()
for tool in lintian setpriv systemd-socket-activate curl python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    lintian util-linux systemd curl python3 >/dev/null
fi

step() { printf '\ntest-package: %s\n' "$*"; }
fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}

if [ -n "${PURGEQ_DEB:-}" ]; then
  deb=$PURGEQ_DEB
else
  step "building the package"
  scripts/build-deb.sh
  deb=$(ls "${PURGEQ_DEB_DIR:-$top/build-deb}"/purgeq_*.deb)
fi
step "lintian $(basename "$deb")"
# Errors fail, and so do warnings: each one we accept is overridden, with its reason, in
# debian/purgeq.lintian-overrides. Info tags are printed.
lintian --fail-on error,warning --display-info --info "$deb" || fail "lintian: errors or warnings"

work=$(mktemp -d /tmp/purgeq-pkgtest.XXXXXX)
chmod 0755 "$work"   # the test users must reach the unpacked binaries and the socket
root=$work/root
pids=()
users=()
groups=()
cleanup() {
  local pid u g
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for u in "${users[@]}"; do userdel "$u" 2>/dev/null || true; done
  for g in "${groups[@]}"; do groupdel "$g" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step "unpacking into $root"
dpkg-deb -x "$deb" "$root"
for f in usr/bin/purgeqd usr/bin/purgeq usr/bin/purgeq-hookd \
  lib/systemd/system/purgeq.service lib/systemd/system/purgeq.socket \
  lib/systemd/system/purgeq-hookd.service lib/systemd/system/purgeq-hookd.socket \
  usr/share/man/man8/purgeq-hookd.8.gz \
  usr/lib/sysusers.d/purgeq.conf usr/lib/tmpfiles.d/purgeq.conf etc/purgeq/purgeq.yaml \
  usr/share/man/man1/purgeq.1.gz usr/share/man/man8/purgeqd.8.gz \
  usr/share/man/man5/purgeq.yaml.5.gz usr/share/bash-completion/completions/purgeq \
  usr/share/zsh/vendor-completions/_purgeq usr/share/doc/purgeq/operations.md \
  usr/share/doc/purgeq/wordpress.md usr/share/doc/purgeq/examples/purgeq.yaml \
  usr/share/doc/purgeq/copyright usr/share/purgeq/integrations/php/autoload.php \
  usr/share/purgeq/integrations/php/src/Client.php \
  usr/share/purgeq/integrations/wordpress/purgeq/purgeq.php \
  usr/share/purgeq/grafana/purgeq-dashboard.json usr/share/purgeq/prometheus/purgeq-alerts.yml; do
  # dh_compress gzips the larger docs.
  [ -e "$root/$f" ] || [ -e "$root/$f.gz" ] || fail "the package lacks /$f"
done
# Every document a shipped file points to ("docs/scale-out.md", "/usr/share/doc/purgeq/api.md")
# is shipped too.
man_text=$(for page in "$root"/usr/share/man/man*/purgeq*.gz; do zcat "$page"; done)
doc_text=$(for doc in "$root"/usr/share/doc/purgeq/*.md*; do
  case "$doc" in *.gz) zcat "$doc" ;; *) cat "$doc" ;; esac
done)
for name in $(printf '%s\n%s\n' "$man_text" "$doc_text" | cat - "$root/etc/purgeq/purgeq.yaml" |
  grep -oE '(docs|/usr/share/doc/purgeq)/[a-z0-9-]+\.md' | sed 's|.*/||' | sort -u); do
  [ -e "$root/usr/share/doc/purgeq/$name" ] || [ -e "$root/usr/share/doc/purgeq/$name.gz" ] ||
    fail "a shipped file points to $name, which the package lacks"
done
mode=$(stat -c %a "$root/etc/purgeq/purgeq.yaml")
[ "$mode" = 640 ] || fail "/etc/purgeq/purgeq.yaml is $mode in the package, want 640"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/purgeq/purgeq.yaml ||
  fail "/etc/purgeq/purgeq.yaml is not a conffile"
grep -q "^ExecStart=/usr/bin/purgeqd --config /etc/purgeq/purgeq.yaml --hookd-socket /run/purgeq/hooks.sock$" \
  "$root/lib/systemd/system/purgeq.service" || fail "purgeq.service does not run /usr/bin/purgeqd"
if grep -q '^RuntimeDirectory=' "$root/lib/systemd/system/purgeq.service"; then
  fail "purgeq.service has a RuntimeDirectory=, which would re-own the socket's directory"
fi
dpkg-deb -I "$deb" postinst | grep -q 'systemd-sysusers' || fail "postinst does not create users"
dpkg-deb -I "$deb" postinst | grep -q 'chown root:purgeqd /etc/purgeq/purgeq.yaml' ||
  fail "postinst does not give the config to the service's group"
dpkg-deb -I "$deb" postrm | grep -q 'rm -rf /var/lib/purgeq' || fail "purge keeps the queue"
# The plugin reaches the client through lib/, a relative link (docs/wordpress.md): as installed,
# and in a copy made with cp -rL for a site that copies rather than links.
plugin=$root/usr/share/purgeq/integrations/wordpress/purgeq
[ "$(readlink "$plugin/lib")" = ../../php ] || fail "the plugin's lib/ is not a link to ../../php"
[ -f "$plugin/lib/autoload.php" ] || fail "the plugin's lib/ does not reach the PHP client"
cp -rL "$plugin" "$work/plugin-copy"
[ -f "$work/plugin-copy/lib/src/Client.php" ] || fail "a cp -rL copy of the plugin lacks the client"
if command -v php >/dev/null; then
  find "$root/usr/share/purgeq/integrations" -name '*.php' -print0 | xargs -0 -n1 php -l >/dev/null ||
    fail "php -l: a PHP file of the package does not parse"
fi
echo "test-package: layout OK"
# The sysusers and tmpfiles entries parse and do what the model says, in the scratch root.
mkdir -p "$root/etc"
touch "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow"
systemd-sysusers --root="$root" >/dev/null 2>&1
grep -q '^purgeqd:' "$root/etc/passwd" || fail "sysusers.d entry creates no user purgeqd"
grep -q '^purgeq-hook:' "$root/etc/passwd" || fail "sysusers.d entry creates no user purgeq-hook"
if grep -E '^(purgeq|purgeqd):' "$root/etc/group" | grep -q 'purgeq-hook'; then
  fail "sysusers.d puts the hook user in one of purgeq's groups"
fi
grep -q '^purgeq:' "$root/etc/group" || fail "sysusers.d entry creates no group purgeq"
systemd-tmpfiles --root="$root" --create purgeq.conf
[ "$(stat -c '%a %U' "$root/run/purgeq")" = "755 root" ] || fail "tmpfiles.d: /run/purgeq not 0755 root"
echo "test-package: sysusers.d and tmpfiles.d entries OK"

step "systemd-analyze verify --man=yes on the installed units"
# --root makes ExecStart=/usr/bin/purgeqd resolve in the unpacked tree, unchanged; the units it
# depends on (sysinit.target, ...) and ExecReload='s /bin/kill are borrowed from this machine,
# into a copy of the tree. MANPATH makes Documentation=man:... find the unpacked pages.
vroot=$work/verify-root
cp -a "$root" "$vroot"
cp -n /lib/systemd/system/*.target /lib/systemd/system/*.slice "$vroot/lib/systemd/system/"
mkdir -p "$vroot/bin" && cp /bin/kill "$vroot/bin/"
MANPATH=$vroot/usr/share/man systemd-analyze verify --man=yes --root="$vroot" \
  "$vroot/lib/systemd/system/purgeq.socket" "$vroot/lib/systemd/system/purgeq.service" \
  "$vroot/lib/systemd/system/purgeq-hookd.socket" "$vroot/lib/systemd/system/purgeq-hookd.service"
rm -rf "$vroot"
echo "test-package: verify OK"

step "bash completion"
completion=$root/usr/share/bash-completion/completions/purgeq
got=$(bash -c 'source "$1"; COMP_WORDS=(purgeq ret); COMP_CWORD=1; _purgeq; echo "${COMPREPLY[*]}"' _ "$completion")
[ "$got" = retry-failed ] || fail "completing 'purgeq ret' gave '$got', want retry-failed"
got=$(bash -c 'source "$1"; COMP_WORDS=(purgeq --zone z s); COMP_CWORD=3; _purgeq; echo "${COMPREPLY[*]}"' _ "$completion")
[ "$got" = "status show" ] || fail "completing 'purgeq --zone z s' gave '$got', want 'status show'"
got=$(bash -c 'source "$1"; COMP_WORDS=(purgeq wait 01ab --ti); COMP_CWORD=3; _purgeq; echo "${COMPREPLY[*]}"' _ "$completion")
[ "$got" = --timeout ] || fail "completing 'purgeq wait ID --ti' gave '$got', want --timeout"
# zsh, when this machine has it: type "purgeq retr<Tab>" into an interactive zsh on a pty, then
# echo the line the completion left.
if command -v zsh >/dev/null; then
  cat >"$work/zsh-completion.zsh" <<'ZSH'
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "fpath=(${1:q} \$fpath); autoload -Uz compinit; compinit -u -D"
sleep 1
zpty -w -n z $'purgeq retr\t'
sleep 1.5
zpty -w -n z $'\x01echo LINE=\x0d'
sleep 1
out=
while zpty -r -t z chunk; do out+=$chunk; done
zpty -d z
[[ $out == *'LINE=purgeq retry-failed'* ]]
ZSH
  zsh -f "$work/zsh-completion.zsh" "$root/usr/share/zsh/vendor-completions" ||
    fail "zsh: completing 'purgeq retr' did not give retry-failed"
  echo "test-package: zsh completion OK"
fi
echo "test-package: completion OK"

step "permissions: purgeqd as an unprivileged user, submitters in and out of the socket's group"
# Throwaway stand-ins for the package's purgeqd (service user) and purgeq (submitters' group).
tag=pq$$
svc=${tag}svc submit=${tag}sub member=${tag}in outsider=${tag}out hookuser=${tag}hk
# The service's user, the submitters' group and the hook user come from the shipped sysusers.d
# entry itself, renamed.
sed -e "s/^u purgeqd /u $svc /" -e "s/^g purgeq /g $submit /" -e "s/^u purgeq-hook /u $hookuser /" \
  "$root/usr/lib/sysusers.d/purgeq.conf" >"$work/sysusers.conf"
[ "$(grep -cE "^(u $svc|g $submit|u $hookuser) " "$work/sysusers.conf")" = 3 ] ||
  fail "the sysusers.d entry no longer has the lines this test renames"
users+=("$svc" "$hookuser")
groups+=("$submit" "$svc" "$hookuser")
systemd-sysusers "$work/sysusers.conf"
for u in "$member" "$outsider"; do
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
  users+=("$u")
done
usermod -aG "$submit" "$member"
as() { # as USER CMD...: the user's uid and private group, plus what /etc/group gives it
  local u=$1
  shift
  setpriv --reuid="$u" --regid="$u" --init-groups --inh-caps=-all -- "$@"
}
as_service() { # like purgeq.service: User=/Group= with no supplementary groups, UMask=0077
  (umask 0077 && exec setpriv --reuid="$svc" --regid="$svc" --clear-groups --inh-caps=-all -- "$@")
}

# The fake Cloudflare API, with a zone that is not the example's (see config/purgeq.yaml).
token=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
zone_id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
zone=purgeq-pkgtest.net
cat >"$work/fake.json" <<JSON
{"accounts": [{"name": "main", "token": "$token", "plan": "pro"}],
 "zones": [{"id": "$zone_id", "name": "$zone", "account": "main"}]}
JSON
python3 tests/fake_cloudflare/fake_cloudflare.py --port 0 --config "$work/fake.json" \
  --port-file "$work/port" >"$work/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || fail "the fake Cloudflare API did not start: $(cat "$work/fake.log")"
port=$(cat "$work/port")

# The installed config, adjusted only where it must be: paths into the scratch root, the fake's
# address, its zone. Then what postinst does: 0640 root:<service group>.
cfg=$root/etc/purgeq/purgeq.yaml
sed -e "s|/run/purgeq/purgeq.sock|$root/run/purgeq/purgeq.sock|" \
  -e "s|^\(  group:\) purgeq|\1 $submit|" \
  -e "s|/var/lib/purgeq/queue.db|$root/var/lib/purgeq/queue.db|" \
  -e "s|https://api.cloudflare.com/client/v4|http://127.0.0.1:$port/client/v4|" \
  -e "s|name: example.com |name: $zone |" \
  -e "s|id: 023e105f4ecef8ad9ca31a8372d0c353|id: $zone_id|" \
  "$root/etc/purgeq/purgeq.yaml" >"$work/purgeq.yaml"
for want in "$root/run/purgeq/purgeq.sock" "group: $submit" "$root/var/lib/purgeq/queue.db" \
  "127.0.0.1:$port" "name: $zone" "id: $zone_id" "token_credential: cloudflare-token"; do
  grep -qF "$want" "$work/purgeq.yaml" || fail "could not adjust the config for: $want"
done
install -m 0640 -o root -g "$svc" "$work/purgeq.yaml" "$cfg"
# The token, as packaged: 0600 root:root. systemd's LoadCredential= copies it into a directory
# only the service's user reads; $CREDENTIALS_DIRECTORY points there.
install -m 0600 -o root -g root /dev/null "$root/etc/purgeq/token"
printf '%s\n' "$token" >"$root/etc/purgeq/token"
creds=$root/run/credentials/purgeq.service
install -d -m 0755 "$root/run/credentials"
install -d -m 0500 -o "$svc" -g "$svc" "$creds"
install -m 0400 -o "$svc" -g "$svc" "$root/etc/purgeq/token" "$creds/cloudflare-token"
# StateDirectory=purgeq, StateDirectoryMode=0700; /run/purgeq root's (tmpfiles.d, the socket).
install -d -m 0700 -o "$svc" -g "$svc" "$root/var/lib/purgeq"
install -d -m 0755 -o root -g root "$root/run/purgeq"

for u in "$svc" "$member" "$outsider"; do
  if as "$u" cat "$root/etc/purgeq/token" >/dev/null 2>&1; then fail "$u can read the token"; fi
done
for u in "$member" "$outsider"; do
  if as "$u" cat "$cfg" >/dev/null 2>&1; then fail "$u can read the config"; fi
done
echo "test-package: token 0600 root:root and config 0640 root:service-group are private: OK"

# The check an operator runs after editing the config, as the service's user.
export CREDENTIALS_DIRECTORY=$creds
out=$(as_service "$root/usr/bin/purgeqd" --config "$cfg" --check-config) ||
  fail "purgeqd --check-config as the service's user failed: $out"
echo "test-package: $out"

# purgeq.socket: root creates the socket (private while it is set up), 0660 root:<submitters>,
# and hands it to purgeqd on the first connection. purgeqd runs as the service's user.
sock=$root/run/purgeq/purgeq.sock
# (systemd-socket-activate passes on only the variables given with -E.)
(umask 0177 && exec systemd-socket-activate -l "$sock" -E CREDENTIALS_DIRECTORY="$creds" \
  setpriv --reuid="$svc" --regid="$svc" --clear-groups --inh-caps=-all -- \
  "$root/usr/bin/purgeqd" --config "$cfg") >"$work/purgeqd.log" 2>&1 &
daemon=$!
pids+=("$daemon")
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no socket: $(cat "$work/purgeqd.log")"
chown root:"$submit" "$sock"
chmod 0660 "$sock"
# Root's first connection starts purgeqd (like socket activation does).
"$root/usr/bin/purgeq" --socket "$sock" status >/dev/null ||
  fail "purgeq status as root failed: $(cat "$work/purgeqd.log")"
[ "$(ps -o uid= -p "$daemon" | tr -d ' ')" = "$(id -u "$svc")" ] || fail "purgeqd does not run as $svc"

submit_ok() { # submit_ok LABEL: the member submits, waits, and the fake has purged the URL
  local url="https://www.$zone/pkgtest-$1" out
  out=$(as "$member" "$root/usr/bin/purgeq" --socket "$sock" --wait=60 url "$url" 2>&1) ||
    fail "$member (in group $submit) could not submit ($1): $out
$(tail -20 "$work/purgeqd.log")"
  curl -fsS "http://127.0.0.1:$port/_fake/purged" | grep -qF "\"$url\"" ||
    fail "the fake Cloudflare API did not purge $url"
  echo "test-package: $member (in $submit) submitted $url ($1): ${out//$'\n'/; }"
}
submit_ok first

set +e
out=$(as "$outsider" "$root/usr/bin/purgeq" --socket "$sock" url "https://www.$zone/refused" 2>&1)
code=$?
set -e
[ "$code" -ne 0 ] || fail "$outsider (not in $submit) could submit"
case $out in
  *"Permission denied"*"socket's group"*) ;;
  *) fail "$outsider was refused (exit $code) without a clear message: $out" ;;
esac
echo "test-package: $outsider (not in $submit) refused, exit $code: $out"

# Reload (ExecReload= sends SIGHUP): the socket is untouched and still takes submissions.
kill -HUP "$daemon"
for _ in $(seq 50); do grep -q 'reloaded\|reload_failed' "$work/purgeqd.log" && break; sleep 0.1; done
grep -q 'reloaded' "$work/purgeqd.log" || fail "no reload: $(tail -5 "$work/purgeqd.log")"
[ "$(stat -c '%a %U %G' "$sock")" = "660 root $submit" ] ||
  fail "after a reload the socket is $(stat -c '%a %U %G' "$sock")"
submit_ok after-reload

kill -TERM "$daemon"
wait "$daemon" || fail "purgeqd did not exit 0 on SIGTERM: $(tail -5 "$work/purgeqd.log")"
[ "$(stat -c '%U' "$root/var/lib/purgeq/queue.db")" = "$svc" ] || fail "queue.db not the service's"

step "hooks: a command hook, run as under the shipped units, cannot read purgeqd's keys"
. scripts/test-hook-boundary.sh

echo
echo "test-package: OK ($(basename "$deb"))"
