#!/usr/bin/env bash
# Installs what purgeq needs from Debian's packages (only what is missing) and builds it.
#   scripts/setup.sh            install + build (Release-ish) into build/
#   scripts/setup.sh --test     also run the whole test suite (ctest)
#   scripts/setup.sh --run      also start purgeqd in the foreground on config/purgeq.dev.yaml
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git python3 curl
  libboost1.81-dev libboost-json1.81-dev libcurl4-openssl-dev libsqlite3-dev libyaml-cpp-dev
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libsystemd-dev systemd libpq-dev libidn2-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The tests also run Cloudflare's Node SDK against the TCP listener (tests/sdk). Checked by command:
# a Node.js from elsewhere (NodeSource) brings its own npm, and Debian's would conflict with it.
if [ "${1:-}" = --test ]; then
  # The PostgreSQL backend's tests start their own throwaway cluster from these binaries.
  dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q "install ok installed" ||
    missing+=(postgresql-15)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # The status page's browser test (tests/integration/test_status_page_browser.py).
  command -v chromium >/dev/null || missing+=(chromium)
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # The tests need PostgreSQL's binaries, not a server: no "main" cluster (and no service running
  # it) is created, unless the machine's postgresql-common already says otherwise.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    "${sudo_cmd[@]}" mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | "${sudo_cmd[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  # --force-confold: the createcluster.conf written above predates the package that ships it, and
  # dpkg must keep it rather than stop to ask.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

build_dir=${PURGEQ_BUILD_DIR:-build}
werror=OFF
[ "${PURGEQ_WERROR:-0}" = 1 ] && werror=ON   # CI: a new compiler warning fails the build
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPURGEQ_BUILD_TESTS=ON \
  -DPURGEQ_WERROR="$werror"
# Two cores and heavy Boost headers: one compile job per core.
cmake --build "$build_dir" -j "$(nproc)"

case "${1:-}" in
  --test)
    # promtool (Debian's prometheus package) checks the metrics exposition. Only the binary is
    # unpacked: installing the package would also start a Prometheus server on machines that run
    # systemd.
    if ! command -v promtool >/dev/null && [ ! -x "$build_dir/tools/usr/bin/promtool" ]; then
      (mkdir -p "$build_dir/tools" && cd "$build_dir/tools" && apt-get download prometheus \
        >/dev/null && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb) \
        || echo "setup: could not fetch promtool; the metrics test uses its own parser only"
    fi
    export PROMTOOL=${PROMTOOL:-$(command -v promtool || echo "$PWD/$build_dir/tools/usr/bin/promtool")}
    ctest_log=$(mktemp)
    ctest --test-dir "$build_dir" --output-on-failure --timeout 300 -j 2 | tee "$ctest_log"
    # A skipped test (PostgreSQL's binaries missing, say) tested nothing: say so, and fail unless
    # skips were asked for.
    if grep -q "(Skipped)" "$ctest_log"; then
      echo "setup: some tests were skipped:"; grep "(Skipped)" "$ctest_log"
      rm -f "$ctest_log"
      [ "${PURGEQ_ALLOW_SKIPS:-0}" = 1 ] || exit 1
    fi
    rm -f "$ctest_log"
    ;;
  --run)
    mkdir -p run
    exec "$build_dir/purgeqd" --config config/purgeq.dev.yaml
    ;;
  "") ;;
  *) echo "setup: unknown option $1" >&2; exit 2 ;;
esac
