#!/usr/bin/env bash
# Tests the PHP client (integrations/php) and the WordPress plugin (integrations/wordpress/purgeq)
# against real parts: WordPress from Debian's wordpress package on a throwaway MariaDB
# (mariadb-install-db + mariadbd on a temp datadir and socket), PHP 8.2's CLI and built-in
# server, the purgeqd built in build/ and the fake Cloudflare API. Prints how long each stage took.
#   scripts/test-wordpress.sh            install what is missing (apt), lint, run both test modules
# PURGEQD / PURGEQ name other binaries; without build/purgeqd, scripts/setup.sh builds it first.
# The wordpress package depends on a web server (apache2); the tests use PHP's built-in server.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
stage() { stage_name=$1; stage_start=$EPOCHREALTIME; printf '\ntest-wordpress: %s\n' "$1"; }
stage_done() { echo "test-wordpress: $stage_name took $(since "$stage_start") s"; }
total_start=$EPOCHREALTIME

stage "packages"
packages=(php-cli php-curl php-mysql wordpress mariadb-server-core mariadb-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test-wordpress: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # mariadb-server-core: mariadbd and mariadb-install-db without the system service that
  # mariadb-server would set up; the tests start their own server.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
php --version | head -1
stage_done

if [ -z "${PURGEQD:-}" ] && [ ! -x build/purgeqd ]; then
  stage "building purgeqd (scripts/setup.sh)"
  scripts/setup.sh
  stage_done
fi
export PURGEQD=${PURGEQD:-$top/build/purgeqd} PURGEQ=${PURGEQ:-$top/build/purgeq}

stage "php -l"
while IFS= read -r -d '' f; do
  php -l "$f" >/dev/null || { php -l "$f"; exit 1; }
done < <(find integrations tests/wordpress -name '*.php' -print0)
[ -f integrations/wordpress/purgeq/lib/autoload.php ] ||
  { echo "test-wordpress: integrations/wordpress/purgeq/lib does not lead to the PHP client" >&2; exit 1; }
stage_done

cd tests/wordpress
stage "PHP client tests (test_php_client)"
python3 -m unittest -v test_php_client
stage_done

stage "WordPress plugin tests (test_wordpress)"
python3 -m unittest -v test_wordpress
stage_done

printf '\ntest-wordpress: OK in %s s\n' "$(since "$total_start")"
