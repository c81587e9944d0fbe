#!/usr/bin/env bash
# The packaged unit under a real systemd: installs the .deb into this machine's own Debian
# booted by systemd-nspawn on a throwaway overlay (nspawn-lib.sh), then drives the unit:
#   A  install + the default config on a host without Docker: active quickly, not restarted,
#      "absent" logged once
#   B  `systemctl reload` (no procps in the container) applies a changed config: kubelet and
#      ECS over TLS to fake endpoints, the status server on a unix socket; an invalid config is
#      refused by the reload and the daemon keeps running
#   C  Docker started later in the same system (dockerd itself when it can run here, else a
#      fake Docker API on /var/run/docker.sock): its container is discovered, no restart
#   D  the watchdog: a daemon that stops pinging (SIGSTOP) is killed and restarted
#   E  `systemctl stop`: clean and quick
#   F  a broken config: exit 78, not restarted
#   G  the process listener (`type: process`): without the drop-in, a netlink error and nothing
#      found; with the packaged drop-in installed as systemd/README.md says, a redis-server of
#      another user discovered (its config written), its password nowhere in output or journal
#   tests/engine/packaging/systemd_test.sh DEB
# AUTODISCD_NSPAWN_FAKE_DOCKER=1 skips dockerd and uses the fake Docker API (to test that path).
# Each check prints PASS: or FAIL: with its evidence (journal lines) and timings (key=value);
# exits 1 when any check failed. Runs as root; everything it starts goes at exit.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../../.." && pwd)"
deb="$(readlink -f "${1:?usage: systemd_test.sh DEB}")"
run="adsd$$$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
test_start_ms=$(( $(date +%s%N) / 1000000 ))
# shellcheck source=tests/engine/packaging/nspawn-lib.sh
. "$here/nspawn-lib.sh"

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
fatal() { echo "FAIL: $*"; exit 1; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

[ "$(id -u)" -eq 0 ] || fatal "must run as root (mounts, systemd-nspawn)"
[ -f "$deb" ] || fatal "no package at $deb"
for tool in systemd-nspawn nsenter openssl python3 curl; do
  command -v "$tool" >/dev/null || fatal "$tool is not installed (tests/setup-deps.sh test)"
done

docker_started=""
cleanup() {
  # Containers first, so that runc removes their cgroups; then the machine; then the cgroup
  # folder dockerd made under the host's hierarchies (cgroup-parent, see below).
  if [ -n "$docker_started" ] && [ -n "$NSPAWN_LEADER" ]; then
    nspawn_exec sh -c 'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids' >/dev/null 2>&1
  fi
  nspawn_teardown
  find /sys/fs/cgroup/*/"$run" -depth -type d -exec rmdir {} + 2>/dev/null
  true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the container.
ns() { nspawn_exec "$@"; }
prop() { ns systemctl show -p "$1" --value autodiscd.service; }
state() { ns systemctl show -p ActiveState,SubState,NRestarts,MainPID,ExecMainStatus,Result autodiscd.service | paste -sd' ' -; }
cursor() { ns journalctl --show-cursor -n 0 -q 2>/dev/null | sed -n 's/^-- cursor: //p'; }
# journal CURSOR [UNIT]: what the unit (and systemd about it) logged since CURSOR.
journal() {
  ns journalctl -q --no-pager -o short-monotonic ${1:+--after-cursor="$1"} -u "${2:-autodiscd.service}"
}
evidence() { sed -e 's/^/    | /' | tail -n "${1:-12}"; }
# wait_for SECONDS DESCRIPTION CMD...: polls CMD (on the host) every 0.1 s; sets waited_ms.
waited_ms=0
wait_for() {
  local seconds=$1 what=$2 start
  shift 2
  start=$(ms)
  while [ $(( $(ms) - start )) -lt $(( seconds * 1000 )) ]; do
    if "$@" >/dev/null 2>&1; then waited_ms=$(( $(ms) - start )); return 0; fi
    sleep 0.1
  done
  waited_ms=$(( $(ms) - start ))
  echo "  (gave up waiting for $what after ${seconds} s)"
  return 1
}
is_active() { [ "$(prop ActiveState)" = active ]; }
# Monotonic span in ms between two timestamp properties of the unit.
span_ms() {
  local a b
  a="$(prop "$1")"; b="$(prop "$2")"
  echo $(( (b - a) / 1000 ))
}

# --- The machine: this machine's own OS, read-only, with a tmpfs on top.
prepare_start=$(ms)
nspawn_prepare "$run" || fatal "cannot mount the overlay for the container"
t="$NSPAWN_ROOT/root/autodiscd-test"   # not /tmp: nspawn mounts its own /tmp
mkdir -p "$t"
cp "$deb" "$t/autodiscd.deb"
cp "$here/nspawn_fake_endpoints.py" "$t/"
cp "$src/tests/fixtures/kubelet/kubelet_podlist_container_ready.json" "$t/pods.json"
cp "$src/tests/fixtures/ecs/ecs_v4_task_fargate_redis.json" "$t/task.json"
# A CA and a certificate for 127.0.0.1, for the fake kubelet and ECS endpoints.
(
  cd "$t" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=autodiscd test CA $run" -keyout ca.key -out ca.pem &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout server.key -out server.csr &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem
) > "$NSPAWN_DIR/openssl.log" 2>&1 || { cat "$NSPAWN_DIR/openssl.log"; fatal "openssl: test certificates"; }
# No procps in the container: `systemctl reload` must not need /bin/kill.
rm -f "$NSPAWN_ROOT/usr/bin/kill" "$NSPAWN_ROOT/bin/kill"
# dockerd, if started: its cgroups under one folder of this run (removed at exit).
mkdir -p "$NSPAWN_ROOT/etc/docker"
printf '{"cgroup-parent": "/%s"}\n' "$run" > "$NSPAWN_ROOT/etc/docker/daemon.json"
[ -x /bin/busybox ] && cp /bin/busybox "$t/busybox"

echo "prepare_ms=$(( $(ms) - prepare_start )) (overlay, files, certificates)"
# Boot. For dockerd (check C): runc needs keyctl (nspawn's seccomp filter refuses it) and a
# tmpfs for its storage (overlay2 cannot stack on the overlay root).
nspawn_boot --system-call-filter="add_key keyctl request_key" \
  --tmpfs=/var/lib/docker --tmpfs=/var/lib/containerd || fatal "the container did not boot"
ns test ! -e /var/run/docker.sock || fatal "/var/run/docker.sock exists in the container before Docker is started"
ns test ! -e /bin/kill -a ! -e /usr/bin/kill || fatal "/bin/kill is still in the container"
# The private CA is trusted system-wide (the ECS listener uses the default CA store).
cp "$t/ca.pem" "$NSPAWN_ROOT/usr/local/share/ca-certificates/autodiscd-test-$run.crt"
ns update-ca-certificates > /dev/null 2>&1 || fatal "update-ca-certificates in the container"

# --- A: install; the default config on a host without Docker.
echo "== A: dpkg -i, default config, no Docker"
c_a="$(cursor)"
a_start=$(ms)
ns dpkg -i /root/autodiscd-test/autodiscd.deb > "$NSPAWN_DIR/dpkg.log" 2>&1 &
dpkg_pid=$!
if wait_for 20 "autodiscd active" is_active; then
  active_after_ms=$(( $(ms) - a_start ))
  ready_ms="$(span_ms ExecMainStartTimestampMonotonic ActiveEnterTimestampMonotonic)"
  main_pid_a="$(prop MainPID)"
  echo "active_after_ms=$active_after_ms ready_ms=$ready_ms (ExecMainStart -> READY=1)"
  if [ "$ready_ms" -lt 5000 ] && [ "$(prop NRestarts)" = 0 ]; then
    pass "A: installed and started by postinst, active ${ready_ms} ms after ExecMainStart (startup_grace is 10 s), enabled=$(ns systemctl is-enabled autodiscd)"
  else
    fail "A: active, but not quickly or restarted: ready_ms=$ready_ms $(state)"
  fi
else
  fail "A: not active within 20 s of dpkg -i (startup_grace is 10 s): $(state)"
  journal "$c_a" | evidence 15
  main_pid_a=""
fi
journal "$c_a" | grep -v 'debug' | evidence 6
a_ready_ms=$(ms)

# --- B: reload applies a changed config; the sandbox allows TLS to kubelet/ECS and a unix socket.
echo "== B: systemctl reload (no /bin/kill): kubelet + ECS over TLS, status on a unix socket"
ns systemd-run --quiet --unit="fake-endpoints-$run" --property=StandardError=journal \
  python3 /root/autodiscd-test/nspawn_fake_endpoints.py tls /root/autodiscd-test/server.pem \
  /root/autodiscd-test/server.key /root/autodiscd-test/pods.json /root/autodiscd-test/task.json
wait_for 20 "the fake kubelet" ns curl -sf --cacert /root/autodiscd-test/ca.pem https://127.0.0.1:10250/pods -o /dev/null \
  || fail "B: the fake kubelet did not answer: $(journal "" "fake-endpoints-$run" | tail -5)"
conf="$NSPAWN_ROOT/etc/autodiscd/autodiscd.yaml"
cp "$conf" "$t/autodiscd.yaml.shipped"
# The shipped file with two listeners added before its own (left as shipped: a listener
# whose settings did not change keeps running) and the status server on a unix socket.
python3 - "$t/autodiscd.yaml.shipped" "$conf" <<'EOF' || fatal "B: cannot edit the config"
import sys
text = open(sys.argv[1]).read()
extra = """listeners:
  - type: kubelet
    url: https://127.0.0.1:10250
    ca_file: /etc/autodiscd/test-ca.pem
    poll_interval: 1s
  - type: ecs
    url: https://127.0.0.1:10251/v4/task
    poll_interval: 1s
"""
assert text.count("\nlisteners:\n") == 1 and text.count("listen: 127.0.0.1:5009") == 1
text = text.replace("\nlisteners:\n", "\n" + extra, 1).replace("listen: 127.0.0.1:5009", "listen: unix:/run/autodiscd/status.sock", 1)
open(sys.argv[2], "w").write(text)
EOF
cp "$t/ca.pem" "$NSPAWN_ROOT/etc/autodiscd/test-ca.pem"
cp "$conf" "$t/autodiscd.yaml.tls"
c_b="$(cursor)"
pid_before="$(prop MainPID)"; n_before="$(prop NRestarts)"
b_start=$(ms)
if ns timeout 30 systemctl reload autodiscd > "$NSPAWN_DIR/reload.log" 2>&1; then
  reload_ms=$(( $(ms) - b_start ))
  echo "reload_ms=$reload_ms"
  status_sock=/run/autodiscd/status.sock
  services_ok() {
    local s
    s="$(ns curl -sf --max-time 2 --unix-socket "$status_sock" http://localhost/services)" || return 1
    grep -q '"listener": *"kubelet"' <<<"$s" && grep -q '"listener": *"ecs"' <<<"$s"
  }
  if wait_for 20 "kubelet and ecs services on the unix socket" services_ok; then
    applied_ms=$(( $(ms) - b_start ))
    files="$(cd "$NSPAWN_ROOT/var/lib/autodiscd/conf.d" && find . -name '*.yaml' | sort | paste -sd' ' -)"
    echo "reload_applied_ms=$applied_ms files: $files"
    if [ "$(prop MainPID)" = "$pid_before" ] && [ "$(prop NRestarts)" = "$n_before" ] &&
       grep -q 'coredns.d/' <<<"$files" && grep -q 'redisdb.d/' <<<"$files"; then
      pass "B: reload applied the new config in ${applied_ms} ms without a restart (pid $pid_before); kubelet (TLS, ca_file) and ECS (TLS, system CA store) services discovered, status served on unix:$status_sock, configs written"
    else
      fail "B: reload: pid $pid_before -> $(prop MainPID), restarts $n_before -> $(prop NRestarts), files: $files"
    fi
  else
    fail "B: after the reload, no kubelet + ecs services on unix:$status_sock within 20 s: $(state)"
    if journal "$c_b" | grep -q "cannot listen on unix:/run/autodiscd"; then
      echo "  (the unit has no RuntimeDirectory=autodiscd: /run/autodiscd does not exist, and under"
      echo "   ProtectSystem=strict the daemon cannot create it; with a drop-in RuntimeDirectory=autodiscd"
      echo "   RuntimeDirectoryMode=0755 this check passes)"
    fi
    ns sh -c "ls -la /run/autodiscd/ 2>&1" | evidence 4
  fi
else
  fail "B: systemctl reload failed ($(tr '\n' ' ' < "$NSPAWN_DIR/reload.log")): $(state)"
fi
journal "$c_b" | evidence 10
# An invalid config: the reload fails, the daemon keeps running on the old one.
c_b2="$(cursor)"
printf 'listeners:\n  - type: nosuch\n' > "$conf"
pid_before="$(prop MainPID)"
if ns timeout 30 systemctl reload autodiscd > "$NSPAWN_DIR/reload-bad.log" 2>&1; then
  fail "B: systemctl reload succeeded on an invalid config"
elif is_active && [ "$(prop MainPID)" = "$pid_before" ] && journal "$c_b2" | grep -q 'status=78'; then
  pass "B: systemctl reload with an invalid config fails (ExecReload exits 78: $(tr '\n' ' ' < "$NSPAWN_DIR/reload-bad.log" | cut -c1-100)); still active on the old config, pid $pid_before"
else
  fail "B: after an invalid reload: $(state)"
fi
journal "$c_b2" | evidence 6
cp "$t/autodiscd.yaml.tls" "$conf"

# "absent" once, over the whole time without Docker.
absent="$(journal "$c_a" | grep -c 'absent')"
window_s=$(( ($(ms) - a_ready_ms) / 1000 ))
if [ -n "$main_pid_a" ] && [ "$absent" = 1 ] && [ "$(prop MainPID)" = "$main_pid_a" ] && [ "$(prop NRestarts)" = 0 ]; then
  pass "A: the missing Docker socket was logged once (\"absent\") over ${window_s} s without Docker; never restarted (NRestarts=0, pid $main_pid_a)"
else
  fail "A: lines with \"absent\": $absent over ${window_s} s (want 1); pid $main_pid_a -> $(prop MainPID); $(state)"
fi
journal "$c_a" | grep 'absent' | evidence 4

# --- C: Docker started later in the same system.
echo "== C: Docker started later"
c_c="$(cursor)"
pid_before="$(prop MainPID)"; n_before="$(prop NRestarts)"
docker_kind=""
name="web-$run"
# dockerd in nspawn: runc needs writable cgroup hierarchies; nspawn mounts the v1 controllers
# read-only, so mount them afresh (rw) inside; containers go below /<run> (daemon.json).
cat > "$t/docker-prep.sh" <<'EOF'
set -e
mount -o remount,rw /sys/fs/cgroup
# Each read-only v1 hierarchy, mounted again read-write with its own controllers.
awk '{ split($0, a, " - "); split(a[1], l, " "); split(a[2], r, " ")
       if (r[1] == "cgroup" && l[6] ~ /^ro/) print l[5], r[3] }' /proc/self/mountinfo | while read -r point opts; do
  controllers=$(echo "$opts" | tr , '\n' | grep -v -e '^ro$' -e '^rw$' | paste -sd, -)
  umount "$point"
  mount -t cgroup -o "rw,$controllers" cgroup "$point"
done
rm -f /etc/systemd/system/docker.service /etc/systemd/system/docker.socket /etc/systemd/system/containerd.service
systemctl daemon-reload
EOF
c_start=$(ms)
if [ "${AUTODISCD_NSPAWN_FAKE_DOCKER:-0}" = 1 ]; then
  echo "NOTE: AUTODISCD_NSPAWN_FAKE_DOCKER=1: not trying dockerd"
elif ns sh /root/autodiscd-test/docker-prep.sh > "$NSPAWN_DIR/docker-prep.log" 2>&1 &&
   ns timeout 90 systemctl start docker.socket docker.service > "$NSPAWN_DIR/docker-start.log" 2>&1 &&
   ns docker version > /dev/null 2>&1; then
  docker_started=1
  echo "dockerd_start_ms=$(( $(ms) - c_start ))"
  if [ -f "$t/busybox" ] && ns sh -c 'set -e; r=/root/autodiscd-test/bbroot; mkdir -p $r/bin; cp /root/autodiscd-test/busybox $r/bin/busybox;
        tar -C $r -cf /root/autodiscd-test/bb.tar .; docker import /root/autodiscd-test/bb.tar localtest/busybox:latest' > "$NSPAWN_DIR/docker-import.log" 2>&1 &&
     ns docker run -d --network none --name "$name" \
       --label 'com.datadoghq.ad.check_names=["http_check"]' --label 'com.datadoghq.ad.init_configs=[{}]' \
       --label "com.datadoghq.ad.instances=[{\"name\": \"$name\", \"url\": \"http://localhost:8080/health\"}]" \
       localtest/busybox:latest /bin/busybox sleep 3600 > "$NSPAWN_DIR/docker-run.log" 2>&1; then
    docker_kind="dockerd $(ns docker version -f '{{.Server.Version}}' 2>/dev/null) (docker.service inside the container)"
  else
    echo "NOTE: dockerd runs in the container but cannot run a container: $(cat "$NSPAWN_DIR/docker-import.log" "$NSPAWN_DIR/docker-run.log" 2>/dev/null | tail -3 | tr '\n' ' ')"
    ns systemctl stop docker.service docker.socket containerd.service > /dev/null 2>&1
    ns rm -f /var/run/docker.sock
  fi
else
  echo "NOTE: dockerd cannot run inside this nspawn container:"
  cat "$NSPAWN_DIR/docker-prep.log" "$NSPAWN_DIR/docker-start.log" 2>/dev/null | tail -5 | evidence 5
  ns journalctl -q --no-pager -u docker.service -u containerd.service -n 8 | evidence 8
  ns systemctl stop docker.service docker.socket containerd.service > /dev/null 2>&1
fi
if [ -z "$docker_kind" ]; then
  echo "!!!!! NOT A REAL DOCKERD: testing the pickup with a fake Docker API on /var/run/docker.sock (see the NOTE above for why)"
  ns systemd-run --quiet --unit="fake-docker-$run" --property=StandardError=journal \
    python3 /root/autodiscd-test/nspawn_fake_endpoints.py docker /var/run/docker.sock docker "$name"
  docker_kind="a fake Docker API (nspawn_fake_endpoints.py docker)"
fi
docker_up_ms=$(ms)
config_for_container() { grep -rlq -- "$name" "$NSPAWN_ROOT/var/lib/autodiscd/conf.d/http_check.d" 2>/dev/null; }
if wait_for 30 "the container's config" config_for_container; then
  pickup_ms=$(( $(ms) - docker_up_ms ))
  echo "docker_pickup_ms=$pickup_ms (engine up -> its container's config written)"
  if [ "$(prop MainPID)" = "$pid_before" ] && [ "$(prop NRestarts)" = "$n_before" ]; then
    pass "C: Docker started later ($docker_kind): its container's config written ${pickup_ms} ms after the engine was up, through the socket's docker group, same pid $pid_before, no restart"
  else
    fail "C: the container was found but the daemon restarted: pid $pid_before -> $(prop MainPID), $(state)"
  fi
else
  fail "C: no config for $name within 30 s of Docker ($docker_kind) being up: $(state)"
fi
journal "$c_c" | grep -iv 'debug' | evidence 8

# --- D: the watchdog.
echo "== D: watchdog (WatchdogSec=2s drop-in, SIGSTOP)"
mkdir -p "$NSPAWN_ROOT/etc/systemd/system/autodiscd.service.d"
printf '[Service]\nWatchdogSec=2s\n' > "$NSPAWN_ROOT/etc/systemd/system/autodiscd.service.d/90-test-watchdog.conf"
ns systemctl daemon-reload
# WATCHDOG_USEC is given at start: restart once to run under the 2 s watchdog.
ns systemctl restart autodiscd
if wait_for 20 "active after restart" is_active; then
  c_d="$(cursor)"
  pid_before="$(prop MainPID)"; n_before="$(prop NRestarts)"
  d_start=$(ms)
  # The whole process stops: its event loop, hence WATCHDOG=1, stops with it. (The shell's
  # builtin kill: there is no /bin/kill in the container.)
  ns sh -c "kill -STOP $pid_before"
  restarted() {
    local pid n
    pid="$(prop MainPID)"; n="$(prop NRestarts)"
    [ "$n" -gt "$n_before" ] && [ "$pid" != 0 ] && [ "$pid" != "$pid_before" ] && is_active
  }
  if wait_for 30 "a restart after the watchdog timeout" restarted; then
    echo "watchdog_restart_ms=$waited_ms (SIGSTOP -> active again)"
    # systemd logs "Watchdog timeout (limit 2s)!" and "Failed with result 'watchdog'"; under
    # load the first was once missing from the journal, the second is the verdict itself.
    if journal "$c_d" | grep -qE "Watchdog timeout|Failed with result 'watchdog'"; then
      pass "D: the stopped daemon (SIGSTOP, no WATCHDOG=1) was killed on the watchdog timeout and restarted in ${waited_ms} ms (WatchdogSec=2s, RestartSec=2s): pid $pid_before -> $(prop MainPID), NRestarts $n_before -> $(prop NRestarts)"
    else
      fail "D: restarted, but not for the watchdog (no Watchdog timeout / result 'watchdog' in the journal)"
    fi
  else
    fail "D: not restarted within 30 s of SIGSTOP: $(state)"
  fi
  journal "$c_d" | grep -E 'Watchdog|watchdog|Main process exited|Scheduled restart|Started|Failed with' | evidence 8
else
  fail "D: not active after the restart with WatchdogSec=2s: $(state)"
fi
rm -f "$NSPAWN_ROOT/etc/systemd/system/autodiscd.service.d/90-test-watchdog.conf"
ns systemctl daemon-reload

# --- E: stop.
echo "== E: systemctl stop"
c_e="$(cursor)"
e_start=$(ms)
if ns systemctl stop autodiscd; then
  stop_ms=$(( $(ms) - e_start ))
  echo "stop_ms=$stop_ms"
  st="$(state)"
  if [ "$(prop ActiveState)" = inactive ] && [ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] &&
     [ "$stop_ms" -lt 10000 ] && journal "$c_e" | grep -q 'stopped'; then
    pass "E: systemctl stop took ${stop_ms} ms (TimeoutStopSec=10s), exit 0, result success"
  else
    fail "E: after stop: $st stop_ms=$stop_ms"
  fi
else
  fail "E: systemctl stop failed: $(state)"
fi
journal "$c_e" | evidence 5

# --- F: a broken config: exit 78, not restarted.
echo "== F: broken config -> exit 78, no restart"
printf 'listeners:\n  - type: nosuch\n' > "$conf"
c_f="$(cursor)"
ns systemctl start autodiscd > "$NSPAWN_DIR/start-bad.log" 2>&1
is_failed() { [ "$(prop ActiveState)" = failed ]; }
if wait_for 20 "failed" is_failed && [ "$(prop ExecMainStatus)" = 78 ]; then
  # (A manual start resets NRestarts: count from here.)
  n_before="$(prop NRestarts)"
  # A restart would come RestartSec=2s after the exit: watch three times that long.
  f_watch=$(ms)
  restarted=""
  while [ $(( $(ms) - f_watch )) -lt 6000 ]; do
    if [ "$(prop ActiveState)" != failed ] || [ "$(prop NRestarts)" != "$n_before" ]; then restarted=1; break; fi
    sleep 0.2
  done
  if [ -z "$restarted" ] && journal "$c_f" | grep -q 'listeners'; then
    pass "F: a broken config: exit 78, failed (Result=$(prop Result)) and not restarted over 6 s (RestartSec=2s), NRestarts=$(prop NRestarts)"
  else
    fail "F: exit 78 but then: $(state)"
  fi
else
  fail "F: not failed with status 78: $(state)"
fi
journal "$c_f" | evidence 6

# --- G: the process listener under the packaged unit, without and with the shipped drop-in.
echo "== G: process listener: another user's redis-server, without and with the drop-in"
dropin_src=/usr/share/doc/autodiscd/examples/process-listener.conf
dropin_dst=/etc/systemd/system/autodiscd.service.d/process-listener.conf
g_unit="redis-g-$run"
g_port=$(( 20000 + $$ % 20000 ))
g_secret="secret-$run-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
# A redis template that uses the discovered address (the shipped one has port 6379 written in).
mkdir -p "$NSPAWN_ROOT/etc/autodiscd/test-templates/redisdb.d"
printf "ad_identifiers: [redis]\ninit_config:\ninstances:\n  - host: '%%%%host%%%%'\n    port: '%%%%port%%%%'\n" \
  > "$NSPAWN_ROOT/etc/autodiscd/test-templates/redisdb.d/auto_conf.yaml"
# trace: the command line (with the password) must stay out of the logs at every level.
cat > "$conf" <<'EOF'
listeners:
  - type: process
    interval: 1s
templates:
  dirs: [/etc/autodiscd/test-templates]
output:
  dir: /var/lib/autodiscd/conf.d
status:
  listen: 127.0.0.1:5009
log:
  level: trace
EOF
ns autodiscd check-config --config /etc/autodiscd/autodiscd.yaml > "$NSPAWN_DIR/check-g.log" 2>&1 ||
  fail "G: check-config on the process listener's config: $(tr '\n' ' ' < "$NSPAWN_DIR/check-g.log")"
c_g="$(cursor)"
g_start=$(ms)
# redis-server is masked as a service here (nspawn-lib.sh): a transient unit as user redis, with
# the password on its command line. A description of our own: systemd would log the command line.
ns systemd-run --quiet --unit="$g_unit" --description="redis-server for check G" --uid=redis --gid=redis \
  /usr/bin/redis-server --port "$g_port" --bind 127.0.0.1 --save '' --appendonly no --requirepass "$g_secret"
redis_up() { ns env REDISCLI_AUTH="$g_secret" redis-cli -p "$g_port" ping | grep -qx PONG; }
g_services() { ns curl -sf --max-time 2 http://127.0.0.1:5009/services; }
redis_file=""
g_discovered=""
if ! wait_for 20 "redis-server on port $g_port" redis_up; then
  fail "G: the transient redis-server did not answer on port $g_port: $(ns systemctl status --no-pager "$g_unit" 2>&1 | tail -5 | tr '\n' ' ')"
else
  redis_pid="$(ns systemctl show -p MainPID --value "$g_unit")"
  redis_user="$(ns stat -c %U "/proc/$redis_pid")"
  redis_file="$NSPAWN_ROOT/var/lib/autodiscd/conf.d/redisdb.d/process___$redis_pid.yaml"
  echo "redis_up_ms=$waited_ms pid=$redis_pid user=$redis_user port=$g_port"

  # (a) The packaged unit as it is: no AF_NETLINK, other processes hidden, no capabilities.
  # --no-block: a listener that never syncs keeps the unit activating until startup_grace.
  ns systemctl reset-failed autodiscd
  ns systemctl --no-block restart autodiscd
  netlink_error() { journal "$c_g" | grep -q 'listener=process kind=netlink'; }
  g_a_start=$(ms)
  if wait_for 20 "the process listener's netlink error" netlink_error && wait_for 10 "/services" g_services; then
    netlink_ms=$(( $(ms) - g_a_start ))
    daemon_user="$(ns stat -c %U "/proc/$(prop MainPID)")"
    if ! g_services | grep -q '"process://' && [ ! -e "$redis_file" ]; then
      pass "G(a): without the drop-in the daemon (user $daemon_user) logs the netlink error within ${netlink_ms} ms of its restart and finds no process: /services answers with no process:// service, no redisdb.d/$(basename "$redis_file")"
    else
      fail "G(a): without the drop-in a process was found: $(g_services | grep -o '"process://[0-9]*"' | paste -sd' ' -)"
    fi
  else
    fail "G(a): without the drop-in, no netlink error logged (or no /services) within the deadline: $(state)"
  fi
  journal "$c_g" | grep -E 'kind=netlink|unmapped' | evidence 3

  # (b) With the drop-in installed as systemd/README.md says.
  c_g2="$(cursor)"
  g_b_start=$(ms)
  if ! { ns install -D -m 0644 "$dropin_src" "$dropin_dst" && ns systemctl daemon-reload &&
         ns timeout 30 systemctl restart autodiscd; }; then
    fail "G(b): installing the drop-in and restarting: $(state)"
  fi
  redis_config() { grep -qE "^ *- host: [\"']?127\\.0\\.0\\.1[\"']?$" "$redis_file" && grep -qE "^ *port: [\"']?${g_port}[\"']?$" "$redis_file"; }
  if wait_for 20 "$redis_file" redis_config; then
    discovered_ms=$(( $(ms) - g_b_start ))
    g_discovered=1
    daemon_user="$(ns stat -c %U "/proc/$(prop MainPID)")"
    echo "process_discovered_ms=$discovered_ms (drop-in installed -> the other user's redis config written)"
    pass "G(b): with the drop-in, redis-server of user $redis_user (pid $redis_pid) discovered by the daemon running as $daemon_user: redisdb.d/$(basename "$redis_file") with host 127.0.0.1 and port $g_port, ${discovered_ms} ms after installing the drop-in (daemon-reload, restart)"
    sed -n '/^instances:/,$p' "$redis_file" | evidence 6
  else
    fail "G(b): with the drop-in, no $redis_file with host 127.0.0.1 and port $g_port within 20 s: $(state); files: $(cd "$NSPAWN_ROOT/var/lib/autodiscd/conf.d" && find . -type f | paste -sd' ' -)"
    journal "$c_g2" | grep -v ' trace ' | evidence 8
  fi
  # The password: nowhere in the output folder (and the daemon's state), /services,
  # `autodiscd services`, or the whole journal since the check began (the daemon at trace level).
  ns autodiscd services --config /etc/autodiscd/autodiscd.yaml > "$NSPAWN_DIR/services-g.json" 2> "$NSPAWN_DIR/services-g.err"
  g_services > "$NSPAWN_DIR/services-g-daemon.json"
  journal_all() { ns journalctl -q --no-pager -o cat --after-cursor="$c_g"; }
  journal_all > "$NSPAWN_DIR/journal-g.txt"
  daemon_lines="$(journal "$c_g" | grep -c 'listener=process')"
  leaks="$(grep -rlF -- "$g_secret" "$NSPAWN_ROOT/var/lib/autodiscd" "$NSPAWN_DIR/services-g.json" \
             "$NSPAWN_DIR/services-g.err" "$NSPAWN_DIR/services-g-daemon.json" "$NSPAWN_DIR/journal-g.txt" 2>/dev/null)"
  if [ -z "$leaks" ] && grep -q "\"process://$redis_pid\"" "$NSPAWN_DIR/services-g.json" &&
     grep -q "\"process://$redis_pid\"" "$NSPAWN_DIR/services-g-daemon.json" && [ "$daemon_lines" -gt 0 ]; then
    pass "G(b): the password is nowhere: not in /var/lib/autodiscd ($(find "$NSPAWN_ROOT/var/lib/autodiscd" -type f | wc -l) files), the daemon's /services, \`autodiscd services\` (both list process://$redis_pid), nor the journal since G began ($(wc -l < "$NSPAWN_DIR/journal-g.txt") lines, $daemon_lines of them the daemon's listener=process at trace level)"
  else
    fail "G(b): password leaked in: ${leaks:-nothing}; process://$redis_pid in autodiscd services: $(grep -c "process://$redis_pid" "$NSPAWN_DIR/services-g.json"), in /services: $(grep -c "process://$redis_pid" "$NSPAWN_DIR/services-g-daemon.json"); daemon lines: $daemon_lines"
  fi
fi
# The transient redis goes; so does its config.
ns systemctl stop "$g_unit" > /dev/null 2>&1
if [ -n "$g_discovered" ]; then
  redis_gone() { [ ! -e "$redis_file" ]; }
  if wait_for 10 "$redis_file removed" redis_gone; then
    pass "G: redis-server stopped, its config removed ${waited_ms} ms later"
  else
    fail "G: redis-server stopped ($(ns systemctl show -p ActiveState --value "$g_unit")), its config still there after 10 s"
  fi
fi
echo "g_ms=$(( $(ms) - g_start )) (check G from the redis start, restarts included)"

echo "systemd_test: failures=$failures wall_ms=$(( $(ms) - test_start_ms ))"
[ "$failures" -eq 0 ]
