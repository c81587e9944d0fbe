#!/usr/bin/env bash
# Builds and runs every test: the normal build (all tests, real engines included), a Release
# build of the daemon (what CI ships; SKIP_RELEASE=1 skips it), an AddressSanitizer +
# UndefinedBehaviorSanitizer build at -O0 (unit tests) and a replay of every fuzz seed.
# Every build here treats warnings as errors (-DAUTODISCD_WERROR=ON); builds by users and
# packagers do not.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-2}"

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTODISCD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure --timeout 600 -j1)

if [ "${SKIP_RELEASE:-0}" != 1 ]; then
  echo "== build (Release, the daemon only)"
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DAUTODISCD_WERROR=ON -DAUTODISCD_BUILD_TESTS=OFF >/dev/null
  cmake --build build-release -j"$jobs" --target autodiscd
fi
if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build (ASan + UBSan, -O0)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAUTODISCD_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g" \
    -DAUTODISCD_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target autodiscd_tests
  echo "== tests under sanitizers (unit tests; the real-engine tests and the benchmark smoke test run in the normal build)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 600 -j1 -L unit -E '^bench_smoke$')
fi
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  # A replay of every seed once, not an exploration: CI fails only for what the change broke.
  # Exploration (tests/fuzz/run.sh <seconds>) is the run before landing: docs/reliability.md.
  echo "== fuzz (clang, libFuzzer + ASan + UBSan): replay every seed"
  JOBS="$jobs" tests/fuzz/run.sh --replay
fi
echo "== all tests passed"
