#!/usr/bin/env bash
# Installs what autodiscd needs on a fresh Debian 12 machine, from Debian's archive only.
#   tests/setup-deps.sh build   build dependencies
#   tests/setup-deps.sh test    build dependencies and the real peers the tests run
#                               (dockerd, podman, prometheus, ...)
set -euo pipefail
what="${1:-build}"

build_packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev
  catch2 libsystemd-dev
)
# Real peers for the tests (one line each, so helpers can add theirs without conflicts).
test_packages=(
  systemd
  systemd-container
  lintian
  mmdebstrap
  dpkg-dev
  adduser
  init-system-helpers
  prometheus
  docker.io
  busybox-static
  podman
  tini
  openssl
  curl
  python3
  clang-14
  libclang-rt-14-dev
  redis-server
  nginx-light
  memcached
  prometheus-redis-exporter
  ca-certificates
)

packages=("${build_packages[@]}")
if [ "$what" = test ]; then packages+=("${test_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-deps: everything is installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
