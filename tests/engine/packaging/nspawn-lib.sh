# Boots this machine's own Debian under systemd-nspawn with a throwaway writable layer, so a
# test can install a package and drive its unit under a real systemd (sourced, not run).
#
#   . nspawn-lib.sh
#   nspawn_prepare NAME         # overlay of / (read-only lower, tmpfs upper) at $NSPAWN_ROOT
#   ... write into "$NSPAWN_ROOT" (files for the container: not /tmp, nspawn mounts its own)
#   nspawn_boot                 # boots it (private network), waits for systemd; $NSPAWN_LEADER
#   nspawn_exec CMD...          # runs CMD inside (nsenter into every namespace of its init)
#   nspawn_teardown             # poweroff (kill after a deadline), unmounts, removes; idempotent
#
# Why the machine's own OS and not an mmdebstrap rootfs: nothing to build or cache (an
# mmdebstrap --variant=minbase tree took about 10 minutes under load here), the package's
# Depends are already installed (it was built here), and the overlay costs well under a
# second. The lower layer is only read; every write (dpkg, journal, state) lands in a tmpfs
# that teardown throws away.
#
# Needs root, systemd-nspawn (systemd-container) and systemd on the machine. Every pid this
# file signals is one it started (systemd-nspawn) or that process's child (the container's init).

NSPAWN_DIR=""      # the run's folder: tmpfs "layer" (upper, work), "root" (the overlay)
NSPAWN_ROOT=""     # the container's root as the host sees it (write files for it here)
NSPAWN_NAME=""
NSPAWN_PID=""      # systemd-nspawn
NSPAWN_LEADER=""   # the container's init (systemd), the child of systemd-nspawn
NSPAWN_LOG=""      # nspawn's own output and the container's console

# Masked in the container: engines and servers this machine has enabled (the test starts the
# ones it needs itself), timers, and units that only matter on a real host.
NSPAWN_MASK=(docker.service docker.socket containerd.service podman.service podman.socket
  podman-restart.service podman-auto-update.service podman-auto-update.timer
  prometheus.service prometheus-node-exporter.service postgresql.service ssh.service
  cron.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
  e2scrub_reap.service fstrim.timer man-db.timer systemd-timesyncd.service systemd-firstboot.service
  getty@tty1.service console-getty.service
  redis-server.service nginx.service memcached.service prometheus-redis-exporter.service)

_nspawn_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# nspawn_prepare NAME: the overlay. Upper and work live on a tmpfs: overlayfs refuses an upper
# layer inside its lower one (/), and a tmpfs also makes the throwaway part cheap.
nspawn_prepare() {
  NSPAWN_NAME="$1"
  NSPAWN_DIR="$(mktemp -d "/var/tmp/$NSPAWN_NAME-XXXXXX")" || return 1
  NSPAWN_ROOT="$NSPAWN_DIR/root"
  NSPAWN_LOG="$NSPAWN_DIR/nspawn.log"
  mkdir -p "$NSPAWN_DIR/layer" "$NSPAWN_ROOT" || return 1
  mount -t tmpfs -o mode=0755,size=4g "tmpfs-$NSPAWN_NAME" "$NSPAWN_DIR/layer" || return 1
  mkdir -p "$NSPAWN_DIR/layer/upper" "$NSPAWN_DIR/layer/work"
  mount -t overlay "overlay-$NSPAWN_NAME" \
    -o "lowerdir=/,upperdir=$NSPAWN_DIR/layer/upper,workdir=$NSPAWN_DIR/layer/work" "$NSPAWN_ROOT" || return 1

  # Not a first boot: a machine id of its own (no wizard, no prompt, its own journal).
  local id
  id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  rm -f "$NSPAWN_ROOT/etc/machine-id"
  echo "$id" > "$NSPAWN_ROOT/etc/machine-id"
  echo "$NSPAWN_NAME" > "$NSPAWN_ROOT/etc/hostname"
  local unit
  for unit in "${NSPAWN_MASK[@]}"; do
    rm -f "$NSPAWN_ROOT/etc/systemd/system/$unit"
    ln -s /dev/null "$NSPAWN_ROOT/etc/systemd/system/$unit"
  done
  # Boot to multi-user.target (the package enables its unit there), not graphical.target.
  ln -sfn /lib/systemd/system/multi-user.target "$NSPAWN_ROOT/etc/systemd/system/default.target"
  # This machine's image forbids maintainer scripts to start services (a Docker-build style
  # policy-rc.d that exits 101); a booted host has none.
  rm -f "$NSPAWN_ROOT/usr/sbin/policy-rc.d"
  # fstab of the host (if any) means nothing here.
  : > "$NSPAWN_ROOT/etc/fstab"
}

# nspawn_boot [extra systemd-nspawn args]: boots and waits (60 s) until systemd has started
# its default target. Prints boot_ms=.
nspawn_boot() {
  local start
  start=$(_nspawn_ms)
  # --keep-unit --register=no: there is no system bus here (no systemd as PID 1 outside).
  # --console=read-only: the console goes to the log, nothing reads our stdin.
  setsid systemd-nspawn --quiet --keep-unit --register=no --console=read-only \
    --private-network --machine="$NSPAWN_NAME" -D "$NSPAWN_ROOT" "$@" \
    -b -- systemd.firstboot=off > "$NSPAWN_LOG" 2>&1 < /dev/null &
  NSPAWN_PID=$!
  local deadline=$(( $(_nspawn_ms) + 60000 )) state=""
  while [ "$(_nspawn_ms)" -lt "$deadline" ]; do
    if ! kill -0 "$NSPAWN_PID" 2>/dev/null; then
      echo "systemd-nspawn exited during boot; its log:"; tail -30 "$NSPAWN_LOG"; return 1
    fi
    if [ -z "$NSPAWN_LEADER" ]; then
      NSPAWN_LEADER="$(cat /proc/"$NSPAWN_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')"
      # Only once the child has become systemd (before, it is nspawn's own inner child).
      [ -n "$NSPAWN_LEADER" ] && [ "$(cat /proc/"$NSPAWN_LEADER"/comm 2>/dev/null)" != systemd ] && NSPAWN_LEADER=""
    fi
    if [ -n "$NSPAWN_LEADER" ]; then
      state="$(nspawn_exec systemctl is-system-running 2>/dev/null)"
      case "$state" in
        running|degraded)
          echo "boot_ms=$(( $(_nspawn_ms) - start )) system_state=$state"
          [ "$state" = degraded ] && nspawn_exec systemctl --failed --no-legend --plain | sed 's/^/  failed unit: /'
          return 0 ;;
      esac
    fi
    sleep 0.2
  done
  echo "the container did not finish booting within 60 s (state: ${state:-unknown}); log:"
  tail -30 "$NSPAWN_LOG"
  [ -n "$NSPAWN_LEADER" ] && nspawn_exec systemctl list-jobs --no-pager 2>&1 | head -20
  return 1
}

# nspawn_exec CMD...: CMD inside the container as root, with a clean environment.
nspawn_exec() {
  nsenter -t "$NSPAWN_LEADER" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# nspawn_wait SECONDS CMD...: polls CMD (inside) every 0.1 s until it succeeds; prints the ms it took.
nspawn_wait() {
  local seconds=$1 start deadline
  shift
  start=$(_nspawn_ms)
  deadline=$(( start + seconds * 1000 ))
  while [ "$(_nspawn_ms)" -lt "$deadline" ]; do
    if nspawn_exec "$@" > /dev/null 2>&1; then echo $(( $(_nspawn_ms) - start )); return 0; fi
    sleep 0.1
  done
  echo $(( $(_nspawn_ms) - start ))
  return 1
}

# nspawn_teardown: poweroff inside (SIGRTMIN+4 to its systemd), SIGKILL to its init after
# 20 s (that ends every process of its pid namespace), then the mounts and the folder.
nspawn_teardown() {
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    [ -n "$NSPAWN_LEADER" ] && kill -s RTMIN+4 "$NSPAWN_LEADER" 2>/dev/null
    local i
    for i in $(seq 1 200); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      echo "NOTE: the container did not power off within 20 s; killing its init"
      [ -n "$NSPAWN_LEADER" ] && kill -KILL "$NSPAWN_LEADER" 2>/dev/null
      for i in $(seq 1 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  NSPAWN_PID=""
  NSPAWN_LEADER=""
  if [ -n "$NSPAWN_DIR" ]; then
    # Deepest first: anything nspawn left below the root, the overlay, the tmpfs.
    awk -v base="$NSPAWN_DIR" '$2 == base || index($2, base "/") == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    rm -rf --one-file-system "$NSPAWN_DIR"
    NSPAWN_DIR=""
  fi
}
