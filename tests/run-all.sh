#!/usr/bin/env bash
# Builds and runs every test: the normal build (all tests, real engines included) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build at -O0 (unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-2}"

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure --timeout 600 -j1)

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build (ASan + UBSan, -O0)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAUTODISCD_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g" >/dev/null
  cmake --build build-asan -j"$jobs" --target autodiscd_tests
  echo "== tests under sanitizers (unit tests; the real-engine tests and the benchmark smoke test run in the normal build)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 600 -j1 -L unit -E '^bench_smoke$')
fi
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (clang, libFuzzer + ASan + UBSan), FUZZ_SECONDS=${FUZZ_SECONDS:-30} each"
  FUZZ_SECONDS="${FUZZ_SECONDS:-30}" JOBS="$jobs" tests/fuzz/run.sh
fi
echo "== all tests passed"
