#!/usr/bin/env bash
# The container sidecar, for real: builds the image from the .deb (sidecar_image.sh), imports
# it into a private dockerd, runs it with the Docker socket and an output volume mounted,
# starts a labelled container beside it, and waits for its config in the volume; then stops
# that container and waits for the config to go.
#   tests/engine/packaging/sidecar_test.sh DEB
# Runs as root. Everything it starts (dockerd, containers, folders) is removed at exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
deb="$(readlink -f "${1:?usage: sidecar_test.sh DEB}")"
run="adsc$$"
base="$(mktemp -d /tmp/autodiscd-sidecar-XXXXXX)"
sock="$base/docker.sock"
out="$base/out"
dockerd_pid=""

fail() { echo "FAIL: $*"; [ -f "$base/dockerd.log" ] && tail -20 "$base/dockerd.log"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in dockerd docker busybox; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install docker.io busybox-static)"
done
d() { docker --host "unix://$sock" "$@"; }

cleanup() {
  set +e
  if [ -S "$sock" ]; then
    ids="$(d ps -aq 2>/dev/null)"
    [ -n "$ids" ] && d rm -f $ids >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  if [ -f "$base/exec/containerd/containerd.pid" ]; then
    kill -TERM "$(cat "$base/exec/containerd/containerd.pid")" 2>/dev/null
  fi
  # Unmount everything under base, deepest first.
  grep -o " $base[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$base"
}
trap cleanup EXIT

# 1. The image's root file system.
"$here/sidecar_image.sh" "$deb" "$base/rootfs.tar"

# 2. A private dockerd on the host network namespace (containers use --network none).
mkdir -p "$base/root" "$base/exec" "$out"
start_dockerd() {
  dockerd --host "unix://$sock" --data-root "$base/root" --exec-root "$base/exec" \
    --pidfile "$base/docker.pid" --storage-driver="$1" --bridge=none --iptables=false \
    --ip-masq=false > "$base/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 150); do
    if d version >/dev/null 2>&1; then return 0; fi
    kill -0 "$dockerd_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
if ! start_dockerd overlay2; then
  echo "overlay2 failed, trying vfs"
  kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true
  rm -rf "$base/root" "$base/exec"; mkdir -p "$base/root" "$base/exec"
  start_dockerd vfs || fail "dockerd did not start"
fi

# 3. Images: autodiscd from the rootfs, busybox for the labelled container.
image="autodiscd:sidecar-$run"
d import --change 'USER 65532:65532' --change 'ENTRYPOINT ["/usr/bin/autodiscd"]' \
  --change 'CMD ["run", "--config", "/etc/autodiscd/autodiscd.yaml"]' \
  --change 'WORKDIR /var/lib/autodiscd' "$base/rootfs.tar" "$image" >/dev/null
size="$(d image inspect -f '{{.Size}}' "$image")"
echo "image=$image size_bytes=$size size_mb=$(( size / 1024 / 1024 ))"
bb="$base/busybox"
mkdir -p "$bb/bin" "$bb/etc"
cp "$(command -v busybox)" "$bb/bin/busybox"
for applet in $("$bb/bin/busybox" --list); do [ -e "$bb/bin/$applet" ] || ln -s busybox "$bb/bin/$applet"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$bb/etc/passwd"; echo 'root:x:0:' > "$bb/etc/group"
tar -C "$bb" -cf "$base/busybox.tar" .
d import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$base/busybox.tar" "localtest/busybox:$run" >/dev/null

# 4. The sidecar: the shipped default config (docker listener on /var/run/docker.sock),
#    the socket's group added, the output folder as a volume.
chown 65532:65532 "$out"
gid="$(stat -c %g "$sock")"
d run -d --name "autodiscd-$run" --network none --group-add "$gid" \
  -v "$sock:/var/run/docker.sock" -v "$out:/var/lib/autodiscd/conf.d" "$image" >/dev/null
# 5. A labelled container beside it.
d run -d --init --name "web-$run" --network none \
  --label 'com.datadoghq.ad.check_names=["http_check"]' \
  --label 'com.datadoghq.ad.init_configs=[{}]' \
  --label "com.datadoghq.ad.instances=[{\"name\": \"web-$run\", \"url\": \"http://localhost:8080/health\"}]" \
  "localtest/busybox:$run" sleep 600 >/dev/null
web_id="$(d inspect -f '{{.Id}}' "web-$run")"

found=""
for _ in $(seq 1 300); do
  found="$(grep -rl --include="*.yaml" "web-$run" "$out" 2>/dev/null | head -1 || true)"
  [ -n "$found" ] && break
  sleep 0.1
done
if [ -z "$found" ]; then
  echo "--- sidecar logs"; d logs "autodiscd-$run" 2>&1 | tail -30
  fail "no config for the labelled container appeared in the output volume within 30 s"
fi
echo "config=${found#$out/}"
cat "$found"
case "$found" in "$out"/http_check.d/*"${web_id:0:12}"*) ;; *) fail "unexpected path $found";; esac
grep -q 'url: http://localhost:8080/health' "$found" || fail "the config lacks the instance url"
[ "$(d inspect -f '{{.State.Running}}' "autodiscd-$run")" = true ] || fail "the sidecar is not running"

# 6. The container goes, its config goes.
d rm -f "web-$run" >/dev/null
for _ in $(seq 1 300); do [ -e "$found" ] || break; sleep 0.1; done
[ ! -e "$found" ] || { d logs "autodiscd-$run" 2>&1 | tail -20; fail "the config stayed after the container was removed"; }
echo "sidecar logs:"; d logs "autodiscd-$run" 2>&1 | tail -8
echo "PASS: sidecar wrote and removed the labelled container's config; image $((size / 1024 / 1024)) MB"
