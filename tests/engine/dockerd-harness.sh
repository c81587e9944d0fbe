#!/bin/bash
# A private dockerd for engine tests: its own network namespace, socket, data-root and
# exec-root under BASE; nothing touches the host's docker or network.
#   dockerd-harness.sh start BASE NETNS [extra dockerd args...]   start (netns created if missing)
#   dockerd-harness.sh stop BASE                                   TERM dockerd, KILL after 20 s
#   dockerd-harness.sh kill BASE                                   KILL dockerd and its containerd (a crash;
#                                                                  shims and containers stay); start again after
#   dockerd-harness.sh import BASE                                 localtest/busybox:latest from busybox-static
#   dockerd-harness.sh teardown BASE NETNS                         containers, dockerd, mounts, netns, BASE
# Only processes whose pids this harness recorded are signalled.
set -u
cmd=$1; BASE=$2
SOCK="unix://$BASE/docker.sock"
# shellcheck source=tests/engine/harness-lib.sh
. "$(dirname "$0")/harness-lib.sh"

wait_ping() {
  # Up to 60 s: a restart that cleans up after killed containers takes 12-18 s on a loaded box.
  for _ in $(seq 1 300); do
    docker -H "$SOCK" version >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$BASE/dockerd.launcher.pid" 2>/dev/null)" 2>/dev/null || [ -s "$BASE/docker.pid" ] || return 1
    sleep 0.2
  done
  return 1
}

stop_dockerd() {
  stop_pidfile "$BASE/docker.pid" || return 0
  # dockerd's own containerd, when it outlived dockerd.
  local cpid
  cpid=$(cat "$BASE/exec/containerd/containerd.pid" 2>/dev/null)
  if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
    kill -TERM "$cpid"; sleep 1; kill -KILL "$cpid" 2>/dev/null
  fi
  rm -f "$BASE/docker.pid"
}

case "$cmd" in
  start)
    NETNS=$3; shift 3
    command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io)"; exit 2; }
    [ -e "/run/netns/$NETNS" ] || { ip netns add "$NETNS" && ip -n "$NETNS" link set lo up; } || exit 3
    mkdir -p "$BASE/root" "$BASE/exec" "$BASE/tmp"
    drivers="overlay2 vfs"
    # A restart keeps the storage driver that worked (another one would not see the containers).
    [ -s "$BASE/driver" ] && drivers=$(cat "$BASE/driver")
    for driver in $drivers; do
      rm -f "$BASE/docker.pid"
      # setsid: dockerd survives in its own session; nsenter: its own network namespace
      # (`ip netns exec` fails with "Devices cgroup isn't mounted").
      TMPDIR="$BASE/tmp" setsid nsenter --net="/run/netns/$NETNS" dockerd --host "$SOCK" \
        --data-root "$BASE/root" --exec-root "$BASE/exec" --pidfile "$BASE/docker.pid" \
        --storage-driver=$driver "$@" >>"$BASE/dockerd.log" 2>&1 </dev/null &
      echo $! >"$BASE/dockerd.launcher.pid"
      if wait_ping; then echo "$driver" >"$BASE/driver"; exit 0; fi
      echo "dockerd did not start with $driver; log tail:" >&2
      tail -n 15 "$BASE/dockerd.log" >&2
      stop_dockerd
    done
    exit 1
    ;;
  stop)
    stop_dockerd
    ;;
  kill)
    pid=$(cat "$BASE/docker.pid" 2>/dev/null)
    [ -n "$pid" ] || { echo "no recorded dockerd pid in $BASE/docker.pid" >&2; exit 1; }
    cpid=$(cat "$BASE/exec/containerd/containerd.pid" 2>/dev/null)
    kill -KILL "$pid" || exit 1
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # dockerd's containerd usually dies with it (parent-death signal); when it did not, it goes too.
    if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
      kill -KILL "$cpid"
      for _ in $(seq 1 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$BASE/docker.pid"
    ;;
  import)
    rootfs="$BASE/rootfs"
    rm -rf "$rootfs"; mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox" || { echo "busybox-static missing"; exit 2; }
    ln -s /bin/busybox "$rootfs/usr/bin/busybox"
    # One link per applet, in one process (a loop of ln took 17 s on a loaded box). The links
    # point at the path busybox calls itself (/usr/bin/busybox on merged /usr): both exist.
    /bin/busybox --install -s "$rootfs/bin" || exit 1
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$BASE/rootfs.tar" . || exit 1
    docker -H "$SOCK" import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$BASE/rootfs.tar" \
      localtest/busybox:latest >/dev/null || exit 1
    ;;
  teardown)
    NETNS=$3
    # After a kill (a test that failed mid-way) dockerd is down but its containers still run
    # under their shims: start it once more, its restore stops them, then remove them.
    if [ -d "$BASE/root" ] && ! docker -H "$SOCK" version >/dev/null 2>&1; then
      "$0" start "$BASE" "$NETNS" >/dev/null 2>&1
    fi
    if [ -S "$BASE/docker.sock" ]; then
      ids=$(docker -H "$SOCK" ps -aq 2>/dev/null)
      [ -n "$ids" ] && docker -H "$SOCK" rm -f $ids >/dev/null 2>&1
    fi
    stop_dockerd
    # Unmount everything under BASE, deepest first (an exec/netns/default mount stays behind).
    umount_under "$BASE"
    [ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
    rm -rf "$BASE"
    ;;
  *)
    echo "usage: $0 start|stop|kill|import|teardown BASE [NETNS]" >&2; exit 64 ;;
esac
