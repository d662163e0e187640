#!/usr/bin/env bash
# The test suite under sanitizers, as CI runs it (about 12 minutes on 2 cores):
#   1. AddressSanitizer + UBSan: scripts/fuzz.sh builds build-fuzz/ with clang-14 (the whole
#      project sanitized, see tests/fuzz/README.md) and runs each libFuzzer target for
#      SECONDS_PER_TARGET; then the rest of build-fuzz/ is built and ctest runs every unit,
#      integration and fuzz-seed test there, so the real purgeqd runs sanitized under the
#      integration tests.
#   2. ThreadSanitizer: the store thread's tests (tests/tsan), the daemon's shared-memory
#      concurrency.
#   scripts/sanitize.sh [SECONDS_PER_TARGET]    default 45
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-45}

scripts/fuzz.sh "$seconds"

build_dir=${PURGEQ_FUZZ_BUILD_DIR:-build-fuzz}
cmake --build "$build_dir" -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Sanitized code is several times slower: more time per test, and the store tests' sync on
# /dev/shm keeps the unit tests quick. The simulator's seed batch is left out: it runs for a fixed
# two minutes, which under the sanitizers buys a fifth of the seeds; sim.regressions still runs.
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j 2 -E '^sim\.batch$'

cmake -S tests/tsan -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j "$(nproc)"
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} build-tsan/purgeq_tsan_store_tests
echo "sanitize: ASan/UBSan suite, fuzzing and TSan store tests passed"
