#!/usr/bin/env bash
# Builds the .deb with CPack from a configured and built build folder, lints it, installs it
# on this machine, runs the installed binary on the installed default config, and purges it.
#   tests/engine/packaging/deb_test.sh BUILD_DIR [OUT_DIR]
# Needs root (dpkg -i), cpack, dpkg-shlibdeps (dpkg-dev) and lintian. Leaves the .deb in
# OUT_DIR when given (the sidecar image test reuses it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../../.." && pwd)"
build="$(cd "${1:?usage: deb_test.sh BUILD_DIR [OUT_DIR]}" && pwd)"
keep="${2:-}"

fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (dpkg -i)"
for tool in cpack dpkg-deb dpkg-shlibdeps lintian; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (tests/setup-deps.sh test installs it)"
done

work="$(mktemp -d /tmp/autodiscd-deb-XXXXXX)"
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg --purge autodiscd >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

present() { dpkg-query -W -f='${Status}' autodiscd 2>/dev/null | grep -qv 'not-installed$'; }
if present; then
  echo "NOTE: autodiscd is installed on this machine (a previous run?); purging it first"
  dpkg --purge autodiscd >/dev/null
fi

# 1. Build the package.
start=$(date +%s%N)
(cd "$build" && cpack -G DEB -B "$work/pkg" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
version="$("$build/autodiscd" --version | awk '{print $2}')"
deb="$work/pkg/autodiscd_${version}_amd64.deb"
[ -f "$deb" ] || { ls -la "$work/pkg"; fail "expected $(basename "$deb")"; }
echo "deb=$(basename "$deb") size=$(stat -c %s "$deb") cpack_seconds=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$deb" "$keep/"; fi

# 2. What it holds.
dpkg-deb -c "$deb" > "$work/contents"
for path in ./usr/bin/autodiscd ./lib/systemd/system/autodiscd.service ./etc/autodiscd/autodiscd.yaml \
            ./etc/autodiscd/templates/redisdb.d/auto_conf.yaml ./var/lib/autodiscd/conf.d/ \
            ./usr/share/doc/autodiscd/copyright ./usr/share/doc/autodiscd/changelog.gz \
            ./usr/share/man/man1/autodiscd.1.gz ./usr/share/doc/autodiscd/examples/process-listener.conf; do
  grep -q " $path\$" "$work/contents" || { cat "$work/contents"; fail "the package lacks $path"; }
done
dpkg-deb -f "$deb" Depends > "$work/depends"
echo "depends=$(cat "$work/depends")"
for dep in adduser init-system-helpers; do
  grep -q "$dep" "$work/depends" || fail "Depends lacks $dep: $(cat "$work/depends")"
done
# shlibdeps: every shared library the binary needs comes from a package in Depends.
dpkg-deb -x "$deb" "$work/x"
for lib in $(objdump -p "$work/x/usr/bin/autodiscd" | awk '/NEEDED/ { print $2 }'); do
  path="$(ldd "$work/x/usr/bin/autodiscd" | awk -v l="$lib" '$1 == l { print $3 }')"
  # usrmerge: dpkg may know the file under /lib or under /usr/lib.
  pkg="$( (dpkg -S "$path" || dpkg -S "${path#/usr}" || dpkg -S "/usr$path") 2>/dev/null | head -1 | cut -d: -f1)"
  [ -n "$pkg" ] || fail "no installed package provides $lib ($path)"
  grep -q "\b$pkg\b" "$work/depends" || fail "Depends lacks $pkg (for $lib): $(cat "$work/depends")"
done
! readelf -S "$work/x/usr/bin/autodiscd" | grep -q '\.symtab' || fail "the binary is not stripped"
# The process listener's drop-in, as systemd/README.md tells the administrator to copy it.
cmp -s "$work/x/usr/share/doc/autodiscd/examples/process-listener.conf" "$src/systemd/process-listener.conf" ||
  fail "the package's examples/process-listener.conf differs from systemd/process-listener.conf"
# The control archive goes to a file first: in a pipe, tar may exit at the archive's end
# marker while dpkg-deb still writes padding, and the EPIPE fails the pipeline under
# pipefail (it did once in a CI check: "no postinst in the package").
dpkg-deb --ctrl-tarfile "$deb" > "$work/control.tar"
tar -x -O -f "$work/control.tar" ./conffiles > "$work/conffiles"
grep -qx /etc/autodiscd/autodiscd.yaml "$work/conffiles" || fail "/etc/autodiscd/autodiscd.yaml is not a conffile"
tar -t -f "$work/control.tar" > "$work/control-files"
for script in postinst prerm postrm; do
  grep -qx "./$script" "$work/control-files" || fail "no $script in the package: $(cat "$work/control-files")"
done

# 3. lintian: no errors; every warning is listed (and justified) in packaging/README.md.
lintian --tag-display-limit 0 "$deb" > "$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then fail "lintian reports errors"; fi
for tag in $(sed -n 's/^W: autodiscd[^:]*: \([a-z0-9-]*\).*/\1/p' "$work/lintian.log" | sort -u); do
  grep -q -- "$tag" "$src/packaging/README.md" || fail "lintian warning $tag is not listed in packaging/README.md"
done
echo "lintian_errors=0 lintian_warnings=$(grep -c '^W: ' "$work/lintian.log" || true)"

# 4. Install it here.
installed=1
dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; }
getent passwd autodiscd >/dev/null || fail "postinst did not create the autodiscd user"
id -nG autodiscd | tr ' ' '\n' | grep -qx docker || fail "autodiscd is not in the docker group: $(id -nG autodiscd)"
[ "$(getent passwd autodiscd | cut -d: -f7)" = /usr/sbin/nologin ] || fail "autodiscd has a login shell"
[ "$(stat -c %U:%G /var/lib/autodiscd/conf.d)" = autodiscd:autodiscd ] || fail "the output folder is not owned by autodiscd"
/usr/bin/autodiscd --version | grep -qx "autodiscd $version" || fail "installed autodiscd --version: $(/usr/bin/autodiscd --version)"
# check-config as the service's user, on the installed default config and templates.
if ! runuser -u autodiscd -- /usr/bin/autodiscd check-config --config /etc/autodiscd/autodiscd.yaml > "$work/check.log" 2>&1; then
  cat "$work/check.log"; fail "autodiscd check-config on the installed default config"
fi
cat "$work/check.log"
grep -q "templates: [1-9][0-9]* loaded" "$work/check.log" || fail "check-config loaded no templates"
# The installed unit, where every path it names exists.
systemd-analyze verify /lib/systemd/system/autodiscd.service > "$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify on the installed unit"; }
echo "installed=ok"

# 5. Remove and purge: nothing of it stays.
dpkg --remove autodiscd > "$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg --remove"; }
[ ! -e /usr/bin/autodiscd ] || fail "/usr/bin/autodiscd left after remove"
[ -f /etc/autodiscd/autodiscd.yaml ] || fail "remove (not purge) must keep the conffile"
dpkg --purge autodiscd > "$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg --purge"; }
installed=0
! getent passwd autodiscd >/dev/null || fail "purge left the autodiscd user"
! getent group autodiscd >/dev/null || fail "purge left the autodiscd group"
for path in /etc/autodiscd /var/lib/autodiscd /lib/systemd/system/autodiscd.service \
            /etc/systemd/system/multi-user.target.wants/autodiscd.service; do
  [ ! -e "$path" ] || fail "purge left $path"
done
! present || fail "dpkg still knows autodiscd after purge: $(dpkg-query -W -f='${Status}' autodiscd)"
echo "PASS: built, linted, installed, ran, purged"
