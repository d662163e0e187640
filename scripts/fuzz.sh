#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, see its README.md) with clang-14, ASan and UBSan into
# build-fuzz/ and runs each one for a while on a copy of its seed corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      default 60; 0 only builds and replays the seeds
# Environment:
#   PURGEQ_FUZZ_TARGETS   the targets to run, space-separated (default: all four)
#   PURGEQ_FUZZ_BUILD_DIR the build directory (default: build-fuzz)
#   PURGEQ_FUZZ_ARGS      extra libFuzzer flags, e.g. "-max_len=65536 -jobs=2"
# Exit status 1 when any target crashed, leaked, hit UB, timed out or ran out of memory; the
# inputs that did it are copied to tests/fuzz/crashes/<target>/ with the fuzzer's log beside them.
# The repository's corpora are never modified: new inputs stay in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
targets=(${PURGEQ_FUZZ_TARGETS:-fuzz_intent fuzz_http fuzz_config fuzz_verdict})
build_dir=${PURGEQ_FUZZ_BUILD_DIR:-build-fuzz}
extra_args=(${PURGEQ_FUZZ_ARGS:-})

# What scripts/setup.sh installs, plus clang-14 and its libFuzzer/sanitizer runtimes.
packages=(build-essential cmake ninja-build pkg-config git python3 curl
  libboost1.81-dev libboost-json1.81-dev libcurl4-openssl-dev libsqlite3-dev libyaml-cpp-dev
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libsystemd-dev systemd libpq-dev libidn2-dev
  clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_start=$(date +%s)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DPURGEQ_FUZZ=ON -DPURGEQ_BUILD_TESTS=ON >/dev/null
# Only the fuzz targets (and purgeq_core under them); `cmake --build build-fuzz` builds the rest.
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"
echo "fuzz: build took $(($(date +%s) - build_start)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/purgeq-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for target in "${targets[@]}"; do
  binary=$build_dir/tests/fuzz/$target
  dir=$work/$target
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz/corpus/"$target"/* "$dir/corpus/"
  args=(-artifact_prefix="$dir/artifacts/" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048)
  [ -f "tests/fuzz/$target.dict" ] && args+=(-dict="tests/fuzz/$target.dict")
  if [ "$seconds" -eq 0 ]; then
    args+=(-runs=0)
  else
    args+=(-max_total_time="$seconds")
  fi
  if [ "$seconds" -eq 0 ]; then
    echo "fuzz: $target: replaying its $(ls "$dir/corpus" | wc -l) seeds"
  else
    echo "fuzz: $target for ${seconds} s ($(ls "$dir/corpus" | wc -l) seeds)"
  fi
  status=0
  # stdin from /dev/null: fuzz_config may be handed token_file: /dev/stdin.
  "$binary" "${args[@]}" "${extra_args[@]}" "$dir/corpus" </dev/null >"$dir/log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  units=$(sed -n 's/^stat::new_units_added: *//p' "$dir/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-13s %12s execs %8s exec/s  cov %-6s new inputs %s  exit %s' \
    "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${units:-?}" "$status")")
  echo "fuzz: ${summary[-1]}"
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$dir/artifacts")" ]; then
    failed+=("$target")
    mkdir -p "tests/fuzz/crashes/$target"
    for artifact in "$dir"/artifacts/*; do
      [ -e "$artifact" ] || continue
      cp "$artifact" "tests/fuzz/crashes/$target/"
      cp "$dir/log" "tests/fuzz/crashes/$target/$(basename "$artifact").log"
      echo "fuzz: $target: saved tests/fuzz/crashes/$target/$(basename "$artifact")"
    done
    echo "---- $target log (last 80 lines) ----"
    tail -n 80 "$dir/log"
    echo "----"
  fi
done

echo "fuzz: summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs and logs in tests/fuzz/crashes/)" >&2
  exit 1
fi
echo "fuzz: no crashes"
