#!/bin/bash
# A private Podman Docker-API service for engine tests, with the verbs of dockerd-harness.sh.
# Nothing touches the host: its own network namespace, and its own persistent mount namespace
# ($BASE/ns/mnt) with private tmpfs over /run, /var/lib, /var/tmp and /dev/shm (CNI leases,
# container netns files, libpod's shm locks, runc state); storage, libpod tmp, CNI network
# configs, containers.conf, XDG dirs, HOME and TMPDIR all live under BASE.
#   podman-harness.sh start BASE NETNS      start `podman system service` on unix://BASE/podman.sock
#   podman-harness.sh stop BASE              TERM the service, KILL after 20 s (containers keep running)
#   podman-harness.sh import BASE            localtest/busybox:latest from busybox-static (Docker API import)
#   podman-harness.sh healthcheck BASE NETNS NAME   runs NAME's health check once (Podman 4.3 schedules
#                                            them with systemd timers; no systemd here)
#   podman-harness.sh teardown BASE NETNS    containers, service, namespaces, mounts, BASE
# Only processes this harness started (its pidfile, its mount namespace) are signalled.
set -u
cmd=$1; BASE=$2
SOCK="unix://$BASE/podman.sock"
MNTNS="$BASE/ns/mnt"
# shellcheck source=tests/engine/harness-lib.sh
. "$(dirname "$0")/harness-lib.sh"

# Runs a command in the private mount namespace (and the network namespace when given), with
# podman's environment pointing into BASE.
in_ns() {
  local net=()
  [ -n "${NETNS:-}" ] && net=(--net="/run/netns/$NETNS")
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$BASE/home" TMPDIR="$BASE/tmp" \
    CONTAINERS_CONF="$BASE/containers.conf" CONTAINERS_STORAGE_CONF="$BASE/storage.conf" \
    XDG_CONFIG_HOME="$BASE/xdg/config" XDG_DATA_HOME="$BASE/xdg/data" XDG_RUNTIME_DIR="$BASE/xdg/run" \
    nsenter --mount="$MNTNS" "${net[@]}" "$@"
}

podman_flags() {
  echo --root "$BASE/root" --runroot "$BASE/runroot" --tmpdir "$BASE/libpod" \
    --network-config-dir "$BASE/cni" --cgroup-manager cgroupfs --events-backend file \
    --storage-driver "$(cat "$BASE/driver" 2>/dev/null || echo overlay)"
}

wait_ping() {
  local pid
  for _ in $(seq 1 100); do
    curl -sf --max-time 2 --unix-socket "$BASE/podman.sock" http://d/_ping >/dev/null 2>&1 && return 0
    pid=$(cat "$BASE/podman.pid" 2>/dev/null)
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1  # no pid yet: a slow launch
    sleep 0.1
  done
  return 1
}

stop_service() {
  stop_pidfile "$BASE/podman.pid"
  rm -f "$BASE/podman.pid" "$BASE/podman.sock"
}

# Processes still in the private mount namespace (conmon, a service that outlived TERM).
ns_pids() {
  local want
  want=$(sed 's/[][]/\\&/g' "$BASE/ns/id" 2>/dev/null) || return 0
  find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' -lname "$want" -printf '%h\n' 2>/dev/null |
    cut -d/ -f3
}

make_mount_ns() {
  [ -e "$MNTNS" ] && return 0
  mkdir -p "$BASE/ns" || return 1
  # The namespace file must live on a private mount.
  mount --bind "$BASE/ns" "$BASE/ns" && mount --make-private "$BASE/ns" && touch "$MNTNS" || return 1
  unshare --mount="$MNTNS" --propagation private sh -c \
    'for d in /run /var/lib /var/tmp /dev/shm; do mount -t tmpfs -o mode=755 adtp "$d" || exit 1; done
     mkdir -p /run/netns /run/lock' || return 1
  nsenter --mount="$MNTNS" readlink /proc/self/ns/mnt >"$BASE/ns/id"
}

write_configs() {
  cat >"$BASE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
init_path = "/usr/bin/tini-static"
[network]
network_backend = "cni"
network_config_dir = "$BASE/cni"
[engine]
# Podman 4.3's Docker API takes the init binary from [engine], its CLI from [containers].
init_path = "/usr/bin/tini-static"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$BASE/events.log"
tmp_dir = "$BASE/libpod"
volume_path = "$BASE/volumes"
static_dir = "$BASE/root/libpod"
EOF
  cat >"$BASE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$BASE/root"
runroot = "$BASE/runroot"
EOF
}

case "$cmd" in
  start)
    NETNS=$3
    command -v podman >/dev/null || { echo "podman not installed (apt-get install podman)"; exit 2; }
    [ -x /usr/bin/tini-static ] || { echo "tini-static missing (apt-get install tini)"; exit 2; }
    [ -e "/run/netns/$NETNS" ] || { ip netns add "$NETNS" && ip -n "$NETNS" link set lo up; } || exit 3
    mkdir -p "$BASE"/{root,runroot,libpod,cni,tmp,volumes,home,xdg/config,xdg/data,xdg/run}
    write_configs
    make_mount_ns || { echo "cannot make the private mount namespace"; exit 3; }
    drivers="overlay vfs"
    [ -s "$BASE/driver" ] && drivers=$(cat "$BASE/driver")  # a restart keeps the storage
    for driver in $drivers; do
      echo "$driver" >"$BASE/driver"
      rm -f "$BASE/podman.pid"
      # shellcheck disable=SC2046
      in_ns setsid sh -c 'echo $$ >"$0"; exec "$@"' "$BASE/podman.pid" \
        podman $(podman_flags) system service --time=0 "$SOCK" >>"$BASE/podman.log" 2>&1 </dev/null &
      if wait_ping; then exit 0; fi
      echo "podman did not start with $driver; log tail:" >&2
      tail -n 15 "$BASE/podman.log" >&2
      stop_service
      rm -f "$BASE/driver"
    done
    exit 1
    ;;
  stop)
    stop_service
    ;;
  import)
    # dockerd's image, imported by dockerd-harness.sh through Podman's Docker API: it talks to
    # BASE/docker.sock, here a link to Podman's socket. (Podman leaves a copy of the upload in
    # the service's TMPDIR, BASE/tmp.)
    ln -sfn podman.sock "$BASE/docker.sock" || exit 1
    "$(dirname "$0")/dockerd-harness.sh" import "$BASE"; rc=$?
    rm -rf "$BASE/docker.sock" "$BASE/rootfs" "$BASE/rootfs.tar"
    exit $rc
    ;;
  healthcheck)
    NETNS=$3
    # shellcheck disable=SC2046
    in_ns podman $(podman_flags) healthcheck run "$4"
    ;;
  teardown)
    NETNS=${3:-}
    if [ -e "$BASE/ns/id" ]; then
      # Local podman (no service needed): every container of this storage, now.
      # shellcheck disable=SC2046
      in_ns podman $(podman_flags) rm -f -a -t 0 >>"$BASE/teardown.log" 2>&1
    fi
    stop_service
    for p in $(ns_pids); do kill -KILL "$p" 2>/dev/null; done
    if [ -e "$MNTNS" ]; then umount "$MNTNS" 2>/dev/null || umount -l "$MNTNS"; fi
    umount_under "$BASE"
    [ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
    rm -rf "$BASE"
    ;;
  *)
    echo "usage: $0 start|stop|import|healthcheck|teardown BASE [NETNS] [NAME]" >&2; exit 64 ;;
esac
