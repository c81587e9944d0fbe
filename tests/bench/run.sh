#!/bin/bash
# Runs the whole benchmark suite and writes docs/benchmarks.md (machine, versions, date, every
# figure with the command that gives it). Takes about 15 minutes on 2 cores (see the doc).
#
#   tests/bench/run.sh                 # everything; the real dockerd part needs root, docker.io,
#                                      # busybox-static and prometheus (tests/setup-deps.sh)
#   SKIP_DOCKER=1 tests/bench/run.sh   # without the real dockerd / Prometheus section
#   QUICK=1 tests/bench/run.sh         # tiny sizes, to check the script itself (figures meaningless)
#   IDLE_SECONDS=60 REPEAT=3 BUILD=/path/to/build OUT=docs/benchmarks.md   (defaults shown)
#   NO_BUILD=1                         # use the binaries already built in $BUILD
#   ONLY=process                       # only section 8 (the process listener), into $OUT as it is
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
OUT=${OUT:-$ROOT/docs/benchmarks.md}
REPEAT=${REPEAT:-3}
IDLE_SECONDS=${IDLE_SECONDS:-60}
QUICK=${QUICK:-0}
SKIP_DOCKER=${SKIP_DOCKER:-0}

if [ "$QUICK" = 1 ]; then
  SYNC_SIZES=50,100; EVENTS=500; PODS=25,50; KUBE_POLL_PODS=25; KUBE_POLLS=20; WRITER=100; FOOT_SIZES="0 100"; IDLE_SECONDS=3; DOCKER_N=5; DOCKER_TMPFS_N=5; PROM_N=1
else
  SYNC_SIZES=100,1000,10000; EVENTS=2000; PODS=250,1000,5000; KUBE_POLL_PODS=212; KUBE_POLLS=300; WRITER=2000; FOOT_SIZES="0 1000 10000"; DOCKER_N=200; DOCKER_TMPFS_N=100; PROM_N=10
fi

if [ "${NO_BUILD:-0}" != 1 ]; then  # NO_BUILD=1: use the binaries already in $BUILD
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j2 --target autodiscd autodiscd_bench >/dev/null
fi
BENCH=$BUILD/tests/bench/autodiscd_bench
DAEMON=$BUILD/autodiscd
WORK=$(mktemp -d /tmp/autodiscd-bench-run-XXXXXX)
DOC=$WORK/benchmarks.md
ENGINE_PID=""; DAEMON_PID=""; DOCKER_BASE=""; DOCKER_NS=""
cleanup() {
  [ -z "$DAEMON_PID" ] || { kill -TERM "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; }
  [ -z "$ENGINE_PID" ] || { kill -TERM "$ENGINE_PID" 2>/dev/null || true; wait "$ENGINE_PID" 2>/dev/null || true; }
  [ -z "$DOCKER_BASE" ] || "$ROOT/tests/bench/dockerd.sh" stop "$DOCKER_BASE" "$DOCKER_NS" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$(date +%s)

say() { printf '%s\n' "$*" >>"$DOC"; }
# The benchmarks' output folders are made under $TMPDIR (/tmp when unset); its file system decides
# much of the Docker, sync and events figures (see the reading), so the doc says which it is, and
# those sections run again with the output on tmpfs (/dev/shm) when it is there.
describe_fs() {  # DIR -> "ext4 without a journal (rw,relatime,...)"
  local fs dev
  fs=$(findmnt -no FSTYPE -T "$1" 2>/dev/null | head -1 || true)
  dev=$(findmnt -no SOURCE -T "$1" 2>/dev/null | head -1 || true)
  if [ "$fs" = ext4 ] && [ -d "/proc/fs/ext4/${dev##*/}" ]; then
    # A mounted ext4 with a journal has a jbd2 entry ("<dev>-8").
    if compgen -G "/proc/fs/jbd2/${dev##*/}-*" >/dev/null; then fs="ext4 with a journal"
    else fs="ext4 without a journal"; fi
  fi
  echo "${fs:-unknown} ($(findmnt -no OPTIONS -T "$1" 2>/dev/null | head -1 | cut -c1-60))"
}
OUT_FS_LINE="Output folders under ${TMPDIR:-/tmp}: $(describe_fs "${TMPDIR:-/tmp}")."
TMPFS_OK=0
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(findmnt -no FSTYPE -T /dev/shm 2>/dev/null | head -1)" = tmpfs ]; then TMPFS_OK=1; fi
# Runs a bench command, copies its stdout (tables and sentences) into the doc under the command.
figure() {
  local cmd="$*"
  say "Command: \`${cmd//$BUILD/\$BUILD}\`"
  say ""
  echo "run.sh: $cmd" >&2
  "$@" >>"$DOC"
}

# Section 8 (defined here so that ONLY=process can run it alone).
process_section() {
  say "## 8. Process listener: port opened -> config file, idle cost, one change, the peers' method"
  say ""
  say "Targets (issue 14): port opened -> file p50 <= 600 ms, p99 <= 1,100 ms at interval 1 s; idle"
  say "<= 100 ms CPU per minute with 1,000 extra processes and 100 listening sockets; one change"
  say "<= 20 ms CPU. The build's autodiscd with a \`type: process\` listener (interval 1 s) on this host;"
  say "the benchmark forks the extra processes (comm adbench-idle / adbench-srv), each server child"
  say "opens a listening socket on 127.0.0.1 when told, at a random phase of the interval, and the"
  say "file is seen by inotify. The daemon's CPU is its threads' time on a CPU (schedstat). The"
  say "peers' method (OpenTelemetry host_observer, every interval: /proc/net/tcp* and every"
  say "/proc/PID/fd) is timed in the benchmark process on the same host, during the same run."
  say "Measured $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg) at the start."
  say ""
  if [ "$(id -u)" != 0 ]; then say "(the row \"as nobody\" needs root: skipped)"; say ""; fi
  figure "$BENCH" process $PROCESS_ARGS
  say ""
}
if [ "$QUICK" = 1 ]; then
  PROCESS_ARGS="--interval-ms 100 --starts 3 --processes 20 --sockets 3 --idle-s 1 --changes 1 --peers-repeat 2"
else
  PROCESS_ARGS="--interval-ms 1000 --starts 50 --processes 1000 --sockets 100 --idle-s $IDLE_SECONDS --changes 10 --peers-repeat 20"
fi
# ONLY=process: just section 8, put in place of its old text in $OUT (or before the callgrind
# section when $OUT has none), and the reading (analysis.md) copied again; the rest of $OUT is
# left as it was.
if [ "${ONLY:-}" = process ]; then
  process_section
  python3 - "$OUT" "$DOC" "$ROOT/tests/bench/analysis.md" <<'PY'
import sys
out, new, reading = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
text = open(out).read()
# The hand-written reading (analysis.md) is copied again: it may speak of section 8.
head = "## Reading the figures"
if head in text:
    a = text.index(head)
    b = text.index("\n---\n", a)
    text = text[:a] + reading.rstrip("\n") + "\n\n" + text[b + 1:]
head = "## 8. Process listener"
if head in text:
    a = text.index(head)
    b = text.find("\n## ", a + 1)
    text = text[:a] + new.rstrip("\n") + "\n\n" + text[b + 1:]
else:
    a = text.index("## CPU as instruction counts")
    text = text[:a] + new.rstrip("\n") + "\n\n" + text[a:]
open(out, "w").write(text)
PY
  echo "run.sh: section 8 written into $OUT" >&2
  exit 0
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "# Benchmarks"
  echo
  echo "Written by \`tests/bench/run.sh\` (the whole suite; see the end for how long it took)."
  echo "Edit the text around the tables in tests/bench/run.sh, not here."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes in the tree)')"
  echo "- Machine: $cpu_model, $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "- Load when the run started: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min averages)"
  echo "- Build: $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2), $(g++ --version | head -1)"
  echo "- Peers: $(dockerd --version 2>/dev/null || echo 'dockerd: not installed'); $(prometheus --version 2>&1 | head -1 || true)"
  echo "- Output folders: under ${TMPDIR:-/tmp}, $(describe_fs "${TMPDIR:-/tmp}") (what creating and syncing a file costs there weighs on sections 1, 3, 4 and 7; sections 1, 3 and 4 also run on tmpfs)"
  echo
} >"$DOC"

# --- 1, 2: real dockerd and Prometheus -----------------------------------------------------
say "## 1, 2. Real dockerd: container start -> config file, removal, the engine's floor, Prometheus"
say ""
say "Targets: start returned -> file renamed into place p50 <= 5 ms, p99 <= 25 ms; removal the same;"
say "autodiscd / floor <= 3x; Prometheus / autodiscd >= 500x. A private dockerd in its own network"
say "namespace (tests/bench/dockerd.sh), containers created from a busybox-static image with --init,"
say "one at a time; the file is seen by inotify (IN_MOVED_TO) in the benchmark process. The start"
say "event reaches autodiscd before the start call returns, so the file is often in place first:"
say "such samples count as 0 ms (how many is in the row). Prometheus: docker_sd_configs with"
say "refresh_interval 1s, time until the container's id is in /api/v1/targets (polled every 20 ms)."
say "Second-round targets (issue 15): p50 <= 2.0 ms, p99 <= 8 ms, <= 2x the floor."
say "Breakdown: after the measured runs the same daemon is restarted at log level trace, which logs"
say "each stage of a container with the steady clock (listeners/log.hpp \`trace_stage\`: event read,"
say "inspect sent, inspect parsed, resolved, file renamed); 50 more containers, one at a time, each"
say "step's p50 from those lines (its own run, so the log lines weigh on no figure above)."
say ""
if [ "$SKIP_DOCKER" = 1 ]; then
  say "(skipped: SKIP_DOCKER=1)"
elif [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
  say "(skipped: needs root and docker.io)"
else
  DOCKER_BASE=$WORK/docker; DOCKER_NS=adbench$$
  SOCK=$("$ROOT/tests/bench/dockerd.sh" start "$DOCKER_BASE" "$DOCKER_NS")
  say "$OUT_FS_LINE"
  say ""
  figure "$BENCH" real-docker --socket "$SOCK" --containers "$DOCKER_N" --prometheus-containers "$PROM_N"
  if [ "$TMPFS_OK" = 1 ]; then
    say "The same daemon path with the output folder on tmpfs (the daemon and dockerd without this disk):"
    say ""
    figure env TMPDIR=/dev/shm "$BENCH" real-docker --socket "$SOCK" --containers "$DOCKER_TMPFS_N" --prometheus-containers 0
  fi
  "$ROOT/tests/bench/dockerd.sh" stop "$DOCKER_BASE" "$DOCKER_NS"; DOCKER_BASE=""
fi
say ""

# --- 3: initial sync -----------------------------------------------------------------------
say "## 3. Initial sync vs containers (fake engine, 1 ms per inspect)"
say ""
say "Target: 1,000 containers <= 1 s; linear growth. The daemon (the real app, listener, resolver and"
say "writer with fsync) runs on the benchmark's main thread; the fake engine (tests/support/fake_engine"
say "on its own thread) answers each inspect after 1 ms. Time from app start to ready (every"
say "container's file written); CPU is the daemon thread's own."
say ""
say "$OUT_FS_LINE"
say ""
figure "$BENCH" sync --containers "$SYNC_SIZES" --repeat "$REPEAT" --repeat-large 1 --inspect-delay-ms 1
if [ "$TMPFS_OK" = 1 ]; then
  say "The same with the output folder on tmpfs:"
  say ""
  figure env TMPDIR=/dev/shm "$BENCH" sync --containers "$SYNC_SIZES" --repeat "$REPEAT" --repeat-large 1 --inspect-delay-ms 1
fi

# --- 4: events -----------------------------------------------------------------------------
say "## 4. Sustained container events/s, and latency at 50% of that load"
say ""
say "Target: >= 5,000 events/s with a correct final state. The fake engine (no inspect latency) plays"
say "N start events for new containers then destroy events for every second one, flat out; the run"
say "ends when the daemon's services and files are exactly the odd containers (checked). Events/s ="
say "events / (last file change - first event). Then the same script paced at half the median rate;"
say "latency = event written by the engine -> file written or removed. Second-round targets (issue"
say "15): >= 10,000 events/s flat out; paced, p50 <= 20 ms and p99 <= 100 ms. The batches column:"
say "files per write batch, and the share of the run the event loop spent resolving and writing"
say "(\`autodiscd_write_seconds_total\`; while it writes, it reads no event and sends no inspect)."
say ""
say "$OUT_FS_LINE"
say ""
figure "$BENCH" events --containers "$EVENTS" --load 0.5 --repeat "$REPEAT"
if [ "$TMPFS_OK" = 1 ]; then
  say "The same with the output folder on tmpfs (no disk: the daemon's own ceiling on this machine):"
  say ""
  figure env TMPDIR=/dev/shm "$BENCH" events --containers "$EVENTS" --load 0.5 --repeat "$REPEAT"
fi

# --- 5: footprint --------------------------------------------------------------------------
say "## 5. Footprint: RSS vs services, idle CPU and wake-ups"
say ""
say "Targets (issue 15): RSS <= 12 MB at 1,000 services and <= 40 MB at 10,000, for every listener, and"
say "at 0 services no higher than 8.5 MB; no wake-ups while idle beyond configured timers. The real"
say "autodiscd binary against \`autodiscd_bench fake-engine\` (a separate process), or with the static"
say "listener on a services file of N container-like services (the fields the Docker listener gives the"
say "fake engine's containers), one config each; status server off, no systemd watchdog. RSS is VmRSS"
say "(and peak VmHWM) 2 s after the last file was written."
say "Idle: CPU (utime+stime from /proc/PID/stat) and context switches summed over the daemon's"
say "threads (/proc/PID/task/*/status) during ${IDLE_SECONDS} s with nothing happening; every wake-up of a"
say "sleeping thread is one voluntary context switch."
say ""
static_services_file() {  # N FILE: N services as the Docker listener maps the fake engine's containers
  awk -v n="$1" 'BEGIN {
    for (i = 0; i < n; i++) {
      id = sprintf("%064x", i + 1)
      printf "- id: \"docker://%s\"\n", id
      printf "  ad_identifiers: [\"docker://%s\", \"redis:5\", redis]\n", id
      printf "  hosts: {bridge: 10.%d.%d.%d}\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256
      printf "  ports: [{port: 6379, name: 6379/tcp}]\n"
      printf "  tags: [\"container_id:%s\", \"container_name:bench-%d\", \"docker_image:redis:5\", \"image_name:redis\", \"image_tag:5\", \"short_image:redis\"]\n", id, i
      printf "  pid: 4242\n"
      printf "  hostname: \"%s\"\n", substr(id, 1, 12)
    }
  }' >"$2"
}
footprint_run() {  # N [docker|static] -> sets RSS HWM SYNC_S; leaves daemon (and engine) running
  local n=$1 kind=${2:-docker} dir=$WORK/foot-$1
  rm -rf "$dir"; mkdir -p "$dir/templates/redisdb.d" "$dir/out"
  printf "ad_identifiers:\n  - redis\ninit_config:\ninstances:\n  - host: '%%%%host%%%%'\n    port: 6379\n" \
    >"$dir/templates/redisdb.d/auto_conf.yaml"
  local listener
  if [ "$kind" = static ]; then
    static_services_file "$n" "$dir/services.yaml"
    listener='  - type: static\n    path: services.yaml'
  else
    "$BENCH" fake-engine --containers "$n" --inspect-delay-ms 1 --socket-link "$dir/engine.sock" >"$dir/engine.out" 2>&1 &
    ENGINE_PID=$!
    for _ in $(seq 100); do [ -S "$dir/engine.sock" ] && break; sleep 0.1; done
    listener="  - type: docker\n    host: unix://$dir/engine.sock"
  fi
  printf "listeners:\n$listener\ntemplates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: \"off\"\n" \
    >"$dir/autodiscd.yaml"
  local t0; t0=$(date +%s.%N)
  "$DAEMON" run --config "$dir/autodiscd.yaml" >"$dir/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 6000); do grep -q 'ready: services' "$dir/daemon.log" && break; sleep 0.1; done
  SYNC_S=$(echo "$(date +%s.%N) - $t0" | bc)
  local files; files=$(find "$dir/out" -name '*.yaml' | wc -l)
  [ "$files" = "$n" ] || echo "run.sh: footprint $n: $files files, expected $n" >&2
  sleep 2
  RSS=$(awk '/VmRSS/ {print $2}' /proc/$DAEMON_PID/status)
  HWM=$(awk '/VmHWM/ {print $2}' /proc/$DAEMON_PID/status)
}
footprint_stop() {
  kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=""
  [ -z "$ENGINE_PID" ] || { kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" || true; ENGINE_PID=""; }
}
ctx_switches() {  # PID -> voluntary + involuntary over all threads
  cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'
}
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
say "Command: \`tests/bench/run.sh\` (section 5; per run: \`autodiscd_bench fake-engine --containers N --inspect-delay-ms 1 --socket-link S\` and \`autodiscd run\` on a docker listener at S; for the static listener, \`autodiscd run\` on \`{type: static, path: services.yaml}\`, the file written by run.sh's static_services_file)"
say ""
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for kind in docker static; do
  say "| $kind listener: services | runs | RSS KiB min / median / max | peak RSS (VmHWM) KiB median | time to ready s median |"
  say "|---|---|---|---|---|"
  for n in $FOOT_SIZES; do
    rss=(); hwm=(); syn=()
    runs=$REPEAT; [ "$n" -lt 10000 ] || runs=1
    for _ in $(seq "$runs"); do
      footprint_run "$n" "$kind"; rss+=("$RSS"); hwm+=("$HWM"); syn+=("$SYNC_S"); footprint_stop
    done
    mn=$(printf '%s\n' "${rss[@]}" | sort -n | head -1); mx=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    say "| $n | $runs | $mn / $(med "${rss[@]}") / $mx | $(med "${hwm[@]}") | $(printf '%.2f' "$(med "${syn[@]}")") |"
  done
  say ""
done
idle_n=$(echo "$FOOT_SIZES" | awk '{print $2}')
footprint_run "$idle_n"
tick=$(getconf CLK_TCK)
c0=$(cpu_ticks "$DAEMON_PID"); s0=$(ctx_switches "$DAEMON_PID"); threads=$(ls /proc/$DAEMON_PID/task | wc -l)
sleep "$IDLE_SECONDS"
c1=$(cpu_ticks "$DAEMON_PID"); s1=$(ctx_switches "$DAEMON_PID")
footprint_stop
say "| idle with $idle_n services | seconds | threads | CPU ms (user+sys) | context switches (all threads) |"
say "|---|---|---|---|---|"
say "| 1 run | $IDLE_SECONDS | $threads | $(( (c1 - c0) * 1000 / tick )) | $(( s1 - s0 )) |"
say ""

# --- 6: kubelet ----------------------------------------------------------------------------
say "## 6. Kubelet: parse + diff + resolve per poll"
say ""
say "Target: <= 20 ms CPU at 250 pods (500 containers); 0 files written on an unchanged poll. A"
say "synthetic /pods response (tests/bench/pods_gen.cpp: the recorded pods of"
say "tests/fixtures/kubelet/kubelet_podlist_container_ready.json, copied with their own names, uids,"
say "IPs and container ids, Running and Ready, each with a redis:5 sidecar) through the listener's"
say "parse_pod_list + diff_services and the app's resolve_service + writer.apply, with the templates"
say "of tests/fixtures/auto_conf. Each pod gives 3 services (2 containers and the pod)."
say ""
figure "$BENCH" kubelet --pods "$PODS" --repeat 20
say "### The JSON parsers on /pods bodies"
say ""
say "Issue 15: today's parse (nlohmann's SAX parser into the pruned document the mapping reads) against"
say "nlohmann's DOM, simdjson 3.0.1 (libsimdjson-dev) and Boost.JSON 1.81, on the recorded pod lists of"
say "tests/fixtures/kubelet and the synthetic bodies above. A parser replaces today's only if it is at"
say "least 2x faster on the synthetic bodies. (Skipped where libsimdjson-dev is not installed.)"
say ""
if "$BENCH" parsers --pods 1 --repeat 1 --sample-mb 0.001 >/dev/null 2>&1; then
  figure "$BENCH" parsers --pods "$PODS" --repeat 7
else
  say "(skipped: autodiscd_bench was built without libsimdjson-dev)"
  say ""
fi
say "### An unchanged poll from outside, the HTTP read of the body included"
say ""
say "Target: <= 1 ms CPU per unchanged poll of a ~750 KiB body every 100 ms (20 ms before the body"
say "memo). The build's autodiscd with one kubelet listener against a fake kubelet (tests/support's"
say "fake HTTP server in the benchmark process) serving a fixed synthetic body; the daemon's CPU over"
say "the polls / polls. Then two bodies in turn that differ in one byte the mapping does not read:"
say "every poll parsed and diffed, nothing resolved (the cost of a poll without the memo)."
say ""
figure "$BENCH" kubelet-poll --pods "$KUBE_POLL_PODS" --interval-ms 100 --polls "$KUBE_POLLS" --changing-polls 50

# --- 7: writer -----------------------------------------------------------------------------
say "## 7. Writer: configs/s"
say ""
say "One config per call of config_writer::apply (as when events arrive one by one); each new or"
say "changed file is written to a hidden temp file, fsynced, renamed, and the folder fsynced."
say ""
figure "$BENCH" writer --configs "$WRITER" --repeat "$REPEAT"

# --- 8: process listener (process_section, above) ----------------------------------------
process_section

# --- instruction counts (noise-free CPU figures) -------------------------------------------
say "## CPU as instruction counts (callgrind)"
say ""
say "Wall and CPU times above are noisy when the machine is shared; instruction counts are not."
say "Measured with \`valgrind --tool=callgrind\` (Ir = instructions executed)."
say ""
if command -v valgrind >/dev/null; then
  ir_of() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
  # Kubelet: only inside the poll (parse, diff, resolve, write), the generator excluded.
  kube_ir() {
    valgrind --tool=callgrind --callgrind-out-file="$WORK/kube.$1.out" \
      --toggle-collect='autodiscd::bench::*kubelet_pipeline::poll*' \
      "$BENCH" kubelet --pods "$2" --repeat "$1" --changed-percent 0 --memo 0 --first-repeat 1 >/dev/null 2>"$WORK/kube.$1.err"
    ir_of "$WORK/kube.$1.out"
  }
  say "| figure | instructions |"
  say "|---|---|"
  for pods in $(echo "$PODS" | tr , ' ' | awk '{print $1}'); do
    a=$(kube_ir 4 "$pods"); b=$(kube_ir 24 "$pods")
    # repeat R: 1 first poll + R unchanged + max(3, R/4) unchanged (0% changed) polls.
    per=$(( (b - a) / (24 + 6 - 4 - 3) ))
    first=$(( a - 7 * per ))
    say "| kubelet, $pods pods: first poll (parse + diff + resolve + write of every service) | $(printf "%'d" "$first") |"
    say "| kubelet, $pods pods: unchanged poll (parse + diff) | $(printf "%'d" "$per") |"
  done
  # The daemon's initial sync, as a process: Ir(N) - Ir(0) over N containers.
  daemon_ir() {
    local n=$1 dir=$WORK/cg-$1
    rm -rf "$dir"; mkdir -p "$dir/templates/redisdb.d" "$dir/out"
    printf "ad_identifiers:\n  - redis\ninit_config:\ninstances:\n  - host: '%%%%host%%%%'\n    port: 6379\n" \
      >"$dir/templates/redisdb.d/auto_conf.yaml"
    "$BENCH" fake-engine --containers "$n" --inspect-delay-ms 0 --socket-link "$dir/engine.sock" >/dev/null 2>&1 &
    ENGINE_PID=$!
    for _ in $(seq 100); do [ -S "$dir/engine.sock" ] && break; sleep 0.1; done
    printf 'listeners:\n  - type: docker\n    host: unix://%s\ntemplates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: "off"\n' \
      "$dir/engine.sock" >"$dir/autodiscd.yaml"
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$DAEMON" run --config "$dir/autodiscd.yaml" >"$dir/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 3000); do grep -q 'ready: services' "$dir/daemon.log" && break; sleep 0.1; done
    kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=""
    kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" || true; ENGINE_PID=""
    ir_of "$dir/cg.out"
  }
  n=$(echo "$FOOT_SIZES" | awk '{print $2}')
  z=$(daemon_ir 0); s=$(daemon_ir "$n")
  say "| daemon process: start, connect, sync 0 containers, stop | $(printf "%'d" "$z") |"
  say "| daemon process: initial sync, per container (list, inspect, map, resolve, write), (Ir($n) - Ir(0)) / $n | $(printf "%'d" $(( (s - z) / n ))) |"
  say ""
  say "Command: \`tests/bench/run.sh\` (this section: callgrind on \`autodiscd_bench kubelet --changed-percent 0 --memo 0\` with --toggle-collect on the poll, and on \`autodiscd run\` against \`autodiscd_bench fake-engine --inspect-delay-ms 0\`)."
else
  say "(skipped: valgrind not installed)"
fi
say ""

if [ -f "$ROOT/tests/bench/analysis.md" ]; then cat "$ROOT/tests/bench/analysis.md" >>"$DOC"; say ""; fi
say "---"
say "The whole suite took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s (\`tests/bench/run.sh\`, load at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
mkdir -p "$(dirname "$OUT")"
cp "$DOC" "$OUT"
echo "run.sh: wrote $OUT" >&2
