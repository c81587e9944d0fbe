#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz,
# then either replays every seed once (CI) or explores for N seconds per target (before landing).
#   tests/fuzz/run.sh --replay          every target, each seed once: CI (tests/run-all.sh)
#   tests/fuzz/run.sh --replay fuzz_resolve   one target's seeds
#   tests/fuzz/run.sh                   every target, FUZZ_SECONDS (default 30) each
#   tests/fuzz/run.sh 600 fuzz_resolve  one target for 10 minutes
#   tests/fuzz/run.sh fuzz_resolve      one target, FUZZ_SECONDS
# Seeds: tests/fuzz/seeds/<target without fuzz_> plus the real files each parser reads
# (extra_seeds below), copied afresh into build-fuzz/fuzz-seeds/<target> every run.
#
# Replay (CI) runs each target with libFuzzer's -runs=0 on that seed folder only: every input is
# executed once, nothing is mutated and no corpus grows, so the step fails only for what the
# change broke (the same inputs pass or fail the same way on every machine). The table shows
# how many inputs each target replayed, read from libFuzzer's own count; a target that did not
# execute all of its seed files fails the step.
#
# Exploration (with seconds) is the long run done before landing. The seed is fixed (FUZZ_SEED,
# default 1) but a run is not repeatable input for input: it is bounded by time, so a faster
# machine goes further, and libFuzzer's path differs between two runs of the same binary even
# with ASLR off (measured: 30,000 inputs of fuzz_daemon_config three times from the same start,
# three different corpora). It can therefore find what no run before it did (stop 12's CI did,
# when CI still explored: docs/reliability.md). Finds are fixed, become tests and stay as seeds
# (tests/fuzz/seeds/<target>), so every later replay and exploration runs them first.
# The corpus an exploration grows is kept in build-fuzz/fuzz-corpus (FUZZ_FRESH=1 starts empty).
# FUZZ_TIMEOUT (default 10 s, wall clock) is how long one input may take; raise it on a loaded
# box (a niced long run on shared cores), where a 5 s input can take 100 s of wall time.
# Exits non-zero when a target crashes, leaks, times out or breaks an invariant; the input
# that did it is saved in build-fuzz/fuzz-artifacts/ (reproduce: build-fuzz/tests/fuzz/<target> <file>).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
seconds="${FUZZ_SECONDS:-30}"
replay=0
if [ "$#" -gt 0 ] && [ "$1" = --replay ]; then replay=1; shift; fi
# A number first is the seconds; the rest (or everything, when no number comes first) are targets.
if [ "$#" -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi
jobs="${JOBS:-2}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
cxx="${FUZZ_CXX:-clang++-14}"

echo "== fuzz: build ($cxx, $build)"
# -O1 and line tables only: libFuzzer's usual choice, and the quickest to compile.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
  -DAUTODISCD_FUZZ=ON -DAUTODISCD_BUILD_TESTS=OFF -DAUTODISCD_WERROR=ON >/dev/null
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

# Seeds beyond tests/fuzz/seeds/<name>: the real files each parser reads.
extra_seeds() {
  case "$1" in
    fuzz_template_file) echo tests/fixtures/auto_conf examples/templates ;;
    fuzz_daemon_config) echo examples/autodiscd.yaml ;;
    fuzz_static_services) echo examples/services.yaml ;;
    fuzz_docker_*) echo tests/fixtures/docker ;;
    fuzz_kubelet_*) echo tests/fixtures/kubelet ;;
    fuzz_ecs_*) echo tests/fixtures/ecs ;;
  esac
}

# Copies the seeds of target $1 into $build/fuzz-seeds/$1 (rebuilt from the repository each run).
gather_seeds() {
  local name="$1" seeds="$build/fuzz-seeds/$1"
  rm -rf "$seeds"
  mkdir -p "$seeds"
  if [ -d "tests/fuzz/seeds/${name#fuzz_}" ]; then cp -r "tests/fuzz/seeds/${name#fuzz_}/." "$seeds/"; fi
  for src in $(extra_seeds "$name"); do
    if [ -d "$src" ]; then
      find "$src" -type f -name '*.y*ml' -o -type f -name '*.json' | while read -r f; do
        cp "$f" "$seeds/$(echo "$f" | tr / _)"; done
    else
      cp "$src" "$seeds/$(echo "$src" | tr / _)"
    fi
  done
}

run_one() {
  local name="$1" bin="$build/tests/fuzz/$1" corpus="$build/fuzz-corpus/$1" seeds="$build/fuzz-seeds/$1"
  gather_seeds "$name"
  mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
  if [ "$replay" = 1 ]; then
    # -runs=0: execute every input of the folder once (leak check included), then stop. No
    # -max_len: libFuzzer then takes the largest seed's size, so no input is cut short.
    "$bin" -runs=0 -seed="${FUZZ_SEED:-1}" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" "$seeds" >"$build/fuzz-logs/$name.log" 2>&1
    return
  fi
  if [ "${FUZZ_FRESH:-0}" = 1 ]; then rm -rf "$corpus"; fi
  mkdir -p "$corpus"
  local dict=()
  if [ -f "tests/fuzz/dicts/$name.dict" ]; then dict=(-dict="tests/fuzz/dicts/$name.dict"); fi
  "$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$build/fuzz-artifacts/$name-" \
    "$corpus" "$seeds" >"$build/fuzz-logs/$name.log" 2>&1
}

if [ "$replay" = 1 ]; then
  echo "== fuzz: replay of every seed, ${#targets[@]} targets, $jobs at a time"
else
  echo "== fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time"
fi
declare -A pids
failed=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
  pids[$t]=$!
done
for t in "${targets[@]}"; do
  if ! wait "${pids[$t]}"; then failed+=("$t"); fi
done

final_stat() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' || echo "?"; }
if [ "$replay" = 1 ]; then
  # "replayed" is libFuzzer's count of the seed files it read ("seed corpus: files: N"), all
  # executed once it logs INITED; "executions" also counts the second run libFuzzer gives an
  # input that allocated more than it freed (its leak check).
  printf '%-26s %8s %9s %11s  %s\n' target seeds replayed executions result
else
  printf '%-26s %12s %10s %8s  %s\n' target executions exec/s corpus result
fi
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  runs=$(final_stat number_of_executed_units "$log")
  result=ok
  for f in "${failed[@]}"; do if [ "$f" = "$t" ]; then result="FAILED (log: $log)"; fi; done
  if [ "$replay" = 1 ]; then
    seeds=$(find "$build/fuzz-seeds/$t" -type f | wc -l)
    replayed="-"  # stopped before the end
    if grep -q 'INITED cov' "$log"; then
      replayed=$(grep -o 'seed corpus: files: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    fi
    if [ "$result" = ok ] && [ "$replayed" != "$seeds" ]; then
      result="FAILED: replayed $replayed of $seeds seeds (log: $log)"
      failed+=("$t")
    fi
    printf '%-26s %8s %9s %11s  %s\n' "$t" "$seeds" "$replayed" "$runs" "$result"
  else
    speed=$(final_stat average_exec_per_sec "$log")
    corpus=$(find "$build/fuzz-corpus/$t" -type f | wc -l)
    printf '%-26s %12s %10s %8s  %s\n' "$t" "$runs" "$speed" "$corpus" "$result"
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "== $t failed; end of its log:"
    tail -n 60 "$build/fuzz-logs/$t.log"
  done
  echo "== inputs saved in $build/fuzz-artifacts/"
  exit 1
fi
if [ "$replay" = 1 ]; then echo "== fuzz: every seed replayed, no crash"; else echo "== fuzz: no crash"; fi
