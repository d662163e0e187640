#!/usr/bin/env bash
# Installs what purgeq needs from Debian's packages (only what is missing) and builds it.
#   scripts/setup.sh            install + build (Release-ish) into build/
#   scripts/setup.sh --test     also run the whole test suite (ctest)
#   scripts/setup.sh --run      also start purgeqd in the foreground on config/purgeq.dev.yaml
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git python3 curl
  libboost1.81-dev libboost-json1.81-dev libcurl4-openssl-dev libsqlite3-dev libyaml-cpp-dev
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libsystemd-dev systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${PURGEQ_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPURGEQ_BUILD_TESTS=ON
# Two cores and heavy Boost headers: one compile job per core.
cmake --build "$build_dir" -j "$(nproc)"

case "${1:-}" in
  --test)
    ctest --test-dir "$build_dir" --output-on-failure --timeout 300 -j 2
    ;;
  --run)
    mkdir -p run
    exec "$build_dir/purgeqd" --config config/purgeq.dev.yaml
    ;;
  "") ;;
  *) echo "setup: unknown option $1" >&2; exit 2 ;;
esac
