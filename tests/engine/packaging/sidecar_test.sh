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
netns="$run"
base="$(mktemp -d /tmp/autodiscd-sidecar-XXXXXX)"
sock="$base/docker.sock"
out="$base/out"
# The project's dockerd harness (own network namespace, socket and data folders).
harness="$here/../dockerd-harness.sh"

fail() { echo "FAIL: $*"; [ -f "$base/dockerd.log" ] && tail -20 "$base/dockerd.log"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in dockerd docker busybox ip nsenter; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install docker.io busybox-static iproute2)"
done
d() { docker --host "unix://$sock" "$@"; }
cleanup() { "$harness" teardown "$base" "$netns" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# 1. The image's root file system.
"$here/sidecar_image.sh" "$deb" "$base/autodiscd-rootfs.tar"

# 2. A private dockerd in its own network namespace.
"$harness" start "$base" "$netns" || fail "dockerd did not start"

# 3. Images: autodiscd from the rootfs, busybox for the labelled container.
image="autodiscd:sidecar-$run"
d import --change 'USER 65532:65532' --change 'ENTRYPOINT ["/usr/bin/autodiscd"]' \
  --change 'CMD ["run", "--config", "/etc/autodiscd/autodiscd.yaml"]' \
  --change 'WORKDIR /var/lib/autodiscd' "$base/autodiscd-rootfs.tar" "$image" >/dev/null
size="$(d image inspect -f '{{.Size}}' "$image")"
echo "image=$image size_bytes=$size size_mb=$(( size / 1024 / 1024 ))"
"$harness" import "$base" || fail "busybox image import"

# 4. The sidecar: the shipped default config (docker listener on /var/run/docker.sock),
#    the socket's group added, the output folder as a volume.
mkdir -p "$out" && chown 65532:65532 "$out"
gid="$(stat -c %g "$sock")"
d run -d --name "autodiscd-$run" --network none --group-add "$gid" \
  -v "$sock:/var/run/docker.sock" -v "$out:/var/lib/autodiscd/conf.d" "$image" >/dev/null
# 5. A labelled container beside it (on the default bridge: %%host%% is its IP).
d run -d --init --name "web-$run" \
  --label 'com.datadoghq.ad.check_names=["http_check"]' \
  --label 'com.datadoghq.ad.init_configs=[{}]' \
  --label "com.datadoghq.ad.instances=[{\"name\": \"web-$run\", \"url\": \"http://%%host%%:8080/health\"}]" \
  localtest/busybox:latest sleep 600 >/dev/null
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
web_ip="$(d inspect -f '{{.NetworkSettings.IPAddress}}' "web-$run")"
grep -qE "url: \"?http://$web_ip:8080/health\"?\$" "$found" || fail "the config lacks the instance url with the container's IP $web_ip"
[ "$(d inspect -f '{{.State.Running}}' "autodiscd-$run")" = true ] || fail "the sidecar is not running"

# 6. The container goes, its config goes.
d rm -f "web-$run" >/dev/null
for _ in $(seq 1 300); do [ -e "$found" ] || break; sleep 0.1; done
[ ! -e "$found" ] || { d logs "autodiscd-$run" 2>&1 | tail -20; fail "the config stayed after the container was removed"; }
echo "sidecar logs:"; d logs "autodiscd-$run" 2>&1 | tail -8
echo "PASS: sidecar wrote and removed the labelled container's config; image $((size / 1024 / 1024)) MB"
