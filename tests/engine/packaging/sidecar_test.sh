#!/usr/bin/env bash
# The container sidecar, for real: builds the image's rootfs from the .deb (sidecar_image.sh,
# seconds), imports it into a private dockerd, runs it with the Docker socket and an output
# volume mounted, and checks that it runs as uid 65532, answers /healthz and `autodiscd
# status`, writes a labelled container's config into the volume and removes it when that
# container goes.
#   tests/engine/packaging/sidecar_test.sh DEB
# Runs as root. Everything it starts (dockerd, netns, containers, folders) carries names
# unique to the run and is removed at exit. Prints rootfs_build_seconds=, size_bytes=,
# size_mb= and test_seconds=.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
deb="$(readlink -f "${1:?usage: sidecar_test.sh DEB}")"
run="adsc$$"
netns="$run"
base="$(mktemp -d /tmp/autodiscd-sidecar-XXXXXX)"
sock="$base/docker.sock"
out="$base/out"
uid=65532
start=$(date +%s%N)
# The project's dockerd harness (own network namespace, socket and data folders).
harness="$here/../dockerd-harness.sh"

fail() { echo "FAIL: $*"; [ -f "$base/dockerd.log" ] && tail -20 "$base/dockerd.log"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in dockerd docker busybox ip nsenter curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (tests/setup-deps.sh test)"
done
d() { docker --host "unix://$sock" "$@"; }
cleanup() { "$harness" teardown "$base" "$netns" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# wait_for SECONDS COMMAND...: runs COMMAND until it succeeds or the deadline passes.
wait_for() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
sidecar_logs() { echo "--- sidecar logs"; d logs "autodiscd-$run" 2>&1 | tail -30; }

# 1. The image's root file system.
"$here/sidecar_image.sh" "$deb" "$base/autodiscd-rootfs.tar"

# 2. A private dockerd in its own network namespace.
"$harness" start "$base" "$netns" || fail "dockerd did not start"

# 3. Images: autodiscd from the rootfs (the same settings as packaging/container/Dockerfile),
#    busybox for the labelled container.
image="autodiscd:sidecar-$run"
d import --change 'USER 65532:65532' --change 'ENTRYPOINT ["/usr/bin/autodiscd"]' \
  --change 'CMD ["run", "--config", "/etc/autodiscd/autodiscd.yaml"]' \
  --change 'VOLUME ["/var/lib/autodiscd/conf.d"]' \
  --change 'WORKDIR /var/lib/autodiscd' "$base/autodiscd-rootfs.tar" "$image" >/dev/null
size="$(d image inspect -f '{{.Size}}' "$image")"
echo "image=$image size_bytes=$size size_mb=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')"
"$harness" import "$base" || fail "busybox image import"

# 3b. The Dockerfile's final stage makes the same image: fed the same rootfs (its stage 1,
#     debian:12 from a registry, cannot run here), it must give the same files, owners and
#     modes (COPY --from keeps owners) and the same settings as the import above.
dockerfile="$here/../../../packaging/container/Dockerfile"
mkdir -p "$base/holder/rootfs" "$base/dfctx"
tar -C "$base/holder/rootfs" -xf "$base/autodiscd-rootfs.tar"
tar -C "$base/holder" --numeric-owner -cf "$base/holder.tar" .
d import "$base/holder.tar" "localtest/rootfs-holder:$run" >/dev/null
{
  echo "FROM localtest/rootfs-holder:$run AS build"
  sed -n '/^FROM scratch/,$p' "$dockerfile"
} >"$base/dfctx/Dockerfile"
grep -q '^COPY --from=build /rootfs/ /$' "$base/dfctx/Dockerfile" || fail "the Dockerfile's final stage no longer copies /rootfs/"
DOCKER_BUILDKIT=0 d build -q -t "autodiscd:dockerfile-$run" "$base/dfctx" >"$base/build.log" 2>&1 \
  || { cat "$base/build.log"; fail "docker build of the Dockerfile's final stage"; }
listing() {
  d create --name "$2" "$1" >/dev/null
  d export "$2" | tar -tv --numeric-owner | awk '{ print $1, $2, $3, $6, $7, $8 }' | sort -k4
  d rm "$2" >/dev/null
}
listing "$image" "ls-import-$run" >"$base/import.ls"
listing "autodiscd:dockerfile-$run" "ls-dockerfile-$run" >"$base/dockerfile.ls"
diff "$base/import.ls" "$base/dockerfile.ls" || fail "the Dockerfile's image holds other files, owners or modes than the imported one"
settings='{{json .Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Volumes}} {{json .Config.WorkingDir}}'
[ "$(d image inspect -f "$settings" "$image")" = "$(d image inspect -f "$settings" "autodiscd:dockerfile-$run")" ] \
  || fail "the Dockerfile's settings differ from the import's: $(d image inspect -f "$settings" "autodiscd:dockerfile-$run")"
echo "dockerfile_image=same files ($(wc -l <"$base/import.ls") entries) and settings as the import"

# 4. The sidecar: the shipped default config (docker listener on /var/run/docker.sock, status
#    server on 127.0.0.1:5009 inside its network namespace), the socket's group added, the
#    output folder as a volume.
mkdir -p "$out" && chown "$uid:$uid" "$out"
gid="$(stat -c %g "$sock")"
d run -d --name "autodiscd-$run" --network none --group-add "$gid" \
  -v "$sock:/var/run/docker.sock" -v "$out:/var/lib/autodiscd/conf.d" "$image" >/dev/null

# 5. It runs as the image's user, not root: real, effective, saved and file-system ids.
pid="$(d inspect -f '{{.State.Pid}}' "autodiscd-$run")"
[ "$pid" -gt 0 ] || { sidecar_logs; fail "the sidecar is not running"; }
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
gids="$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
[ "$uids" = "$uid $uid $uid $uid" ] || fail "the sidecar's process runs with uids '$uids', not $uid"
[ "$gids" = "$uid $uid $uid $uid" ] || fail "the sidecar's process runs with gids '$gids', not $uid"
echo "sidecar_pid=$pid uid=$uid gid=$uid"

# 6. Its status server answers /healthz (reached in the container's own network namespace) and
#    `autodiscd status` inside the container (docker exec, as the image's user) reads it.
healthz() { nsenter --net="/proc/$pid/ns/net" curl -fsS --max-time 2 http://127.0.0.1:5009/healthz >"$base/healthz" 2>&1; }
wait_for 30 healthz || { cat "$base/healthz"; sidecar_logs; fail "/healthz did not answer 2xx within 30 s"; }
echo "healthz=$(head -c 200 "$base/healthz")"
status_ok() { d exec "autodiscd-$run" /usr/bin/autodiscd status --config /etc/autodiscd/autodiscd.yaml >"$base/status" 2>&1; }
wait_for 30 status_ok || { cat "$base/status"; sidecar_logs; fail "autodiscd status in the container did not succeed within 30 s"; }
echo "--- autodiscd status (docker exec)"; head -20 "$base/status"

# 7. A labelled container beside it (on the default bridge: %%host%% is its IP).
d run -d --init --name "web-$run" \
  --label 'com.datadoghq.ad.check_names=["http_check"]' \
  --label 'com.datadoghq.ad.init_configs=[{}]' \
  --label "com.datadoghq.ad.instances=[{\"name\": \"web-$run\", \"url\": \"http://%%host%%:8080/health\"}]" \
  localtest/busybox:latest sleep 600 >/dev/null
web_id="$(d inspect -f '{{.Id}}' "web-$run")"

found=""
config_found() { found="$(grep -rl --include="*.yaml" "web-$run" "$out" 2>/dev/null | head -1 || true)"; [ -n "$found" ]; }
wait_for 30 config_found || { sidecar_logs; fail "no config for the labelled container appeared in the output volume within 30 s"; }
echo "config=${found#"$out"/}"
cat "$found"
case "$found" in "$out"/http_check.d/*"${web_id:0:12}"*) ;; *) fail "unexpected path $found" ;; esac
web_ip="$(d inspect -f '{{.NetworkSettings.IPAddress}}' "web-$run")"
grep -qE "url: \"?http://$web_ip:8080/health\"?\$" "$found" || fail "the config lacks the instance url with the container's IP $web_ip"
[ "$(stat -c %u "$found")" = "$uid" ] || fail "the config is owned by uid $(stat -c %u "$found"), not $uid"
[ "$(d inspect -f '{{.State.Running}}' "autodiscd-$run")" = true ] || fail "the sidecar is not running"

# 8. The container goes, its config goes.
d rm -f "web-$run" >/dev/null
config_gone() { [ ! -e "$found" ]; }
wait_for 30 config_gone || { sidecar_logs; fail "the config stayed after the container was removed"; }
echo "sidecar logs:"; d logs "autodiscd-$run" 2>&1 | tail -8
echo "test_seconds=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }') (teardown not included)"
echo "PASS: sidecar ran as uid $uid, answered /healthz and status, wrote and removed the labelled container's config; image $size bytes"
