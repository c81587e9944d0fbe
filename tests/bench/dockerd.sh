#!/bin/sh
# The benchmarks' private dockerd: the Docker listener's engine-test harness
# (tests/engine/dockerd-harness.sh: own network namespace, socket and data folders; image
# localtest/busybox:latest from busybox-static), started and torn down for one bench run.
#   tests/bench/dockerd.sh start BASE NETNS   # prints the socket path
#   tests/bench/dockerd.sh stop  BASE NETNS   # containers, dockerd, mounts, netns, BASE
set -eu
cmd=${1:?start|stop}; BASE=${2:?base folder}; NS=${3:?netns name}
HARNESS=$(cd "$(dirname "$0")/../engine" && pwd)/dockerd-harness.sh
case "$cmd" in
  start)
    "$HARNESS" start "$BASE" "$NS" >&2
    "$HARNESS" import "$BASE" >&2
    echo "$BASE/docker.sock"
    ;;
  stop)
    "$HARNESS" teardown "$BASE" "$NS" >&2 || true
    ;;
  *) echo "usage: $0 start|stop BASE NETNS" >&2; exit 64 ;;
esac
