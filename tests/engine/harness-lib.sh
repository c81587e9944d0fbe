# Shell functions shared by dockerd-harness.sh and podman-harness.sh (sourced, not run).

# TERM a process this harness recorded, KILL it after 20 s; returns 1 when it was not running.
term_then_kill() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 1
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  return 0
}

# term_then_kill on the pid a file recorded; returns 1 when there is none or it was not running.
stop_pidfile() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
  term_then_kill "$pid"
}

# Lazily unmounts everything at or below a folder, deepest first.
umount_under() {
  awk -v base="$1" '$2 == base || index($2, base "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
}
