#!/usr/bin/env bash
# Builds the autodiscd container image locally, without a registry: a Debian 12 rootfs made
# by mmdebstrap from Debian's archive (cached), the .deb installed in it, `docker import`.
# The same image packaging/container/Dockerfile builds where a registry is reachable.
#   tests/engine/packaging/sidecar_image.sh DEB OUT_TAR
# Writes the image's root file system as OUT_TAR (for `docker import`, see import_args below).
# The base rootfs (Debian essential + the .deb's Depends) is cached in $AUTODISCD_ROOTFS_CACHE
# (default /var/cache/autodiscd-test), keyed by the dependency list and the apt sources.
set -euo pipefail
deb="$(readlink -f "${1:?usage: sidecar_image.sh DEB OUT_TAR}")"
out_tar="${2:?usage: sidecar_image.sh DEB OUT_TAR}"
cache="${AUTODISCD_ROOTFS_CACHE:-/var/cache/autodiscd-test}"
sources="${AUTODISCD_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
[ -f "$sources" ] || sources=/etc/apt/sources.list
uid=65532

fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (mmdebstrap, chroot)"
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (apt-get install mmdebstrap)"

# The runtime dependencies, from the package itself (first of each alternative, no versions).
deps="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/ //g' | grep -v '^$' | sort -u | paste -sd, -)"
key="$( (echo "bookworm essential $deps"; cat "$sources") | sha256sum | cut -c1-16)"
base="$cache/rootfs-$key.tar"
mkdir -p "$cache"
if [ ! -f "$base" ]; then
  echo "building the base rootfs with mmdebstrap (cached as $base): $deps"
  start=$(date +%s)
  # Essential packages plus our Depends; no documentation, man pages or locales.
  mmdebstrap --variant=essential --include="$deps" \
    --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --format=tar bookworm "$base.partial" "$sources" > "$cache/mmdebstrap-$key.log" 2>&1 \
    || { tail -20 "$cache/mmdebstrap-$key.log"; rm -f "$base.partial"; fail "mmdebstrap"; }
  mv "$base.partial" "$base"
  echo "rootfs_build_seconds=$(( $(date +%s) - start ))"
else
  echo "rootfs_cache=$base"
fi

work="$(mktemp -d /tmp/autodiscd-rootfs-XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir "$root"
tar -C "$root" -xf "$base"
# A fixed uid/gid (the DaemonSet runs as 65532); postinst keeps an existing user.
chroot "$root" groupadd --system --gid "$uid" autodiscd
chroot "$root" useradd --system --uid "$uid" --gid "$uid" --home-dir /var/lib/autodiscd \
  --no-create-home --shell /usr/sbin/nologin autodiscd
cp "$deb" "$root/tmp/autodiscd.deb"
chroot "$root" dpkg -i /tmp/autodiscd.deb > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i in the rootfs"; }
rm -f "$root/tmp/autodiscd.deb"
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
chroot "$root" /usr/bin/autodiscd --version
tar -C "$root" --numeric-owner -cf "$out_tar" .
echo "rootfs_tar=$out_tar size=$(stat -c %s "$out_tar")"
