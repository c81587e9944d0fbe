#!/usr/bin/env bash
# Builds the autodiscd container image's root file system from the .deb, in seconds and
# without a registry or a Debian rootfs: packaging/container/make-rootfs.sh (the same files
# packaging/container/Dockerfile puts in its `FROM scratch` image), a smoke check in a chroot
# as uid 65532, and a deterministic tar for `docker import` (two builds are byte-identical).
#   tests/engine/packaging/sidecar_image.sh DEB OUT_TAR
# Import it as sidecar_test.sh does (USER, ENTRYPOINT, CMD, VOLUME, WORKDIR as the Dockerfile).
# Prints rootfs_build_seconds=, rootfs_tar= and rootfs_tar_bytes=.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
make_rootfs="$here/../../../packaging/container/make-rootfs.sh"
usage="usage: sidecar_image.sh DEB OUT_TAR"
deb="$(readlink -f "${1:?$usage}")"
out_tar="${2:?$usage}"
uid=65532

fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (chroot, files owned by $uid)"

start=$(date +%s%N)
work="$(mktemp -d /tmp/autodiscd-rootfs-XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
"$make_rootfs" "$deb" "$root" || fail "make-rootfs.sh"

# Smoke check: the binary starts from the image's own loader and libraries, as the image's
# user, and accepts the image's config.
chroot --userspec="$uid:$uid" "$root" /usr/bin/autodiscd --version || fail "autodiscd --version in the rootfs"
chroot --userspec="$uid:$uid" "$root" /usr/bin/autodiscd check-config --config /etc/autodiscd/autodiscd.yaml \
  || fail "autodiscd check-config in the rootfs"
# The CA bundle where OpenSSL's default paths look (the kubelet and ECS listeners' TLS).
if [ "$(readlink "$root/usr/lib/ssl/cert.pem")" != /etc/ssl/certs/ca-certificates.crt ] \
  || ! grep -q 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt"; then
  fail "no CA bundle at OpenSSL's default path /usr/lib/ssl/cert.pem"
fi

# Deterministic: sorted names, numeric owners, fixed mtimes, no atime/ctime.
tar -C "$root" --sort=name --numeric-owner --mtime=@0 --format=gnu -cf "$out_tar.partial" .
mv "$out_tar.partial" "$out_tar"
end=$(date +%s%N)
echo "rootfs_build_seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }')"
echo "rootfs_tar=$out_tar rootfs_tar_bytes=$(stat -c %s "$out_tar")"
