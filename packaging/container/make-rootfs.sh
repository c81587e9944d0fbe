#!/usr/bin/env bash
# Assembles the autodiscd container image's root file system from the .deb, in seconds and
# without a Debian rootfs: the package's files, exactly the shared libraries the binary links
# (its ELF NEEDED entries, resolved recursively on this machine, which has the package's
# Depends installed), the dynamic loader, the CA bundle and minimal passwd/group/nsswitch.
#   packaging/container/make-rootfs.sh DEB OUTDIR
# OUTDIR must not exist or be empty. Used by tests/engine/packaging/sidecar_image.sh (which
# tars OUTDIR for `docker import`) and by packaging/container/Dockerfile (stage 2 copies it
# into `FROM scratch`), so both images hold the same files. Runs as root (ownership 65532).
# Needs dpkg-deb, readelf (binutils) and /etc/ssl/certs/ca-certificates.crt (ca-certificates).
#
# What the binary opens at run time besides its libraries was found with
# `strace -f -e trace=openat chroot OUTDIR /usr/bin/autodiscd run ...` (docker listener,
# status server, a kubelet listener over https): /etc/nsswitch.conf, /etc/hosts,
# /etc/resolv.conf (Docker mounts these two), /etc/ssl/certs/ca-certificates.crt through
# OpenSSL's default paths, and /usr/lib/ssl/openssl.cnf (Debian's settings, SECLEVEL 2);
# /etc/localtime is missing on purpose (logs in UTC) and nothing is written outside the output
# folder (no /tmp). glibc 2.36 has the files and dns NSS modules built in: no libnss_*.so.
set -euo pipefail
usage="usage: make-rootfs.sh DEB OUTDIR"
deb="$(readlink -f "${1:?$usage}")"
root="${2:?$usage}"
uid=65532
# The image's mtimes (the tar made from it overrides them anyway): fixed, for reproducible layers.
epoch="${SOURCE_DATE_EPOCH:-0}"

fail() { echo "make-rootfs: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (files owned by $uid)"
[ -f "$deb" ] || fail "no such .deb: $deb"
command -v readelf >/dev/null || fail "readelf is not installed (apt-get install binutils)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || fail "$ca_bundle is missing (apt-get install ca-certificates)"
mkdir -p "$root"
root="$(readlink -f "$root")"
[ -z "$(ls -A "$root")" ] || fail "$root is not empty"

pkg="$(mktemp -d /tmp/autodiscd-deb-XXXXXX)"
trap 'rm -rf "$pkg"' EXIT
dpkg-deb -x "$deb" "$pkg"
binary="$pkg/usr/bin/autodiscd"
[ -x "$binary" ] || fail "the .deb has no /usr/bin/autodiscd"

# Copies the host's PATH into the root, recreating each symlink met on the way (so /lib ->
# usr/lib and the SONAME links stay links, and the real files land at their canonical paths).
copy_host_path() {
  local path=$1 prefix="" rest=${1#/} component target
  while [ -n "$rest" ]; do
    component=${rest%%/*}
    if [ "$component" = "$rest" ]; then rest=""; else rest=${rest#*/}; fi
    prefix="$prefix/$component"
    if [ -L "$prefix" ]; then
      target="$(readlink "$prefix")"
      [ -L "$root$prefix" ] || ln -s "$target" "$root$prefix"
      case $target in /*) ;; *) target="$(dirname "$prefix")/$target" ;; esac
      copy_host_path "$(realpath -ms "$target")${rest:+/$rest}"
      return
    elif [ -d "$prefix" ]; then
      [ -n "$rest" ] || fail "copy_host_path: $path is a directory"
      [ -d "$root$prefix" ] || { mkdir "$root$prefix" && chmod --reference="$prefix" "$root$prefix"; }
    elif [ -f "$prefix" ]; then
      [ -z "$rest" ] || fail "copy_host_path: $prefix is not a directory"
      [ -e "$root$prefix" ] || cp -p "$prefix" "$root$prefix"
    else
      fail "copy_host_path: $prefix does not exist on this machine"
    fi
  done
}

# 1. The package's files: the binary, the config and templates, the license.
install -d -m 755 "$root/usr/bin" "$root/etc" "$root/usr/share/doc/autodiscd"
cp -p "$binary" "$root/usr/bin/autodiscd"
cp -a "$pkg/etc/autodiscd" "$root/etc/autodiscd"
cp -p "$pkg/usr/share/doc/autodiscd/copyright" "$root/usr/share/doc/autodiscd/copyright"
# The output folder (a volume) belongs to the daemon's user; the working folder stays root's.
install -d -m 755 "$root/var/lib/autodiscd"
install -d -m 755 -o "$uid" -g "$uid" "$root/var/lib/autodiscd/conf.d"

# 2. The dynamic loader and the libraries: the ELF NEEDED entries, recursively, each resolved
#    in the loader's default directories (Debian: /lib/<triplet>, /usr/lib/<triplet>, /lib,
#    /usr/lib; the triplet is the loader's own folder). No ld.so.cache: the loader searches.
interp="$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
[ -n "$interp" ] || fail "no program interpreter in $binary (a static binary?)"
triplet="$(basename "$(dirname "$(readlink -f "$interp")")")"
search_dirs=("/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib)
copy_host_path "$interp"
declare -A seen=()
queue=("$binary")
while [ "${#queue[@]}" -gt 0 ]; do
  elf=${queue[0]}
  queue=("${queue[@]:1}")
  for soname in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -z "${seen[$soname]:-}" ] || continue
    found=""
    for dir in "${search_dirs[@]}"; do
      if [ -e "$dir/$soname" ]; then found="$dir/$soname"; break; fi
    done
    [ -n "$found" ] || fail "$soname (needed by ${elf#"$pkg"}) is not installed on this machine"
    seen[$soname]=$found
    copy_host_path "$found"
    queue+=("$(readlink -f "$found")")
  done
done
echo "make-rootfs: libraries $(printf '%s\n' "${!seen[@]}" | sort | paste -sd " " -)"

# 3. CA certificates for the kubelet and ECS listeners: OpenSSL's default paths (what
#    set_default_verify_paths loads) point at Debian's bundle, as the openssl package does.
copy_host_path "$ca_bundle"
install -d -m 755 "$root/usr/lib/ssl"
ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"
# OpenSSL reads its config at the first TLS context; Debian's sets its default security level.
if [ -f /etc/ssl/openssl.cnf ]; then
  copy_host_path /etc/ssl/openssl.cnf
  ln -s /etc/ssl/openssl.cnf "$root/usr/lib/ssl/openssl.cnf"
fi

# 4. Users and name lookup: root, the daemon's user (fixed 65532, as the Kubernetes manifests
#    use), nobody; files first, then DNS, as on Debian.
printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
  "autodiscd:x:$uid:$uid:autodiscd:/var/lib/autodiscd:/usr/sbin/nologin" \
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' "autodiscd:x:$uid:" 'nogroup:x:65534:' >"$root/etc/group"
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
chmod 644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

find "$root" -exec touch -h -d "@$epoch" {} +
echo "make-rootfs: $root $(du -sb "$root" | cut -f1) bytes, $(find "$root" -type f | wc -l) files"
