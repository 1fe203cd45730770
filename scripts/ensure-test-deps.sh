#!/bin/sh
# Installs, from Debian's packages, what the tests need and the machine lacks: etcd and
# etcdctl (etcd-server, etcd-client: the tests start their own etcd on free loopback
# ports), openssl (test certificates), systemd-analyze (unit checks), curl (the cloud-init
# install path), ip (iproute2: the network-namespace tests), dpkg-deb and lintian (the .deb
# packages), qemu-aarch64-static and the arm64 glibc, libstdc++ and libgcc (the arm64
# binary runs under user-mode emulation: no binfmt registration, nothing system-wide but
# the files). Only missing packages are installed; does nothing when all are there. Not
# cloud-init: it would enable its boot services on this machine for one schema check,
# which runs where cloud-init is already installed (README, Quickstart).
set -eu

missing=""
# need COMMAND PACKAGE: PACKAGE is installed when COMMAND is not on PATH.
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
# need_file PATH PACKAGE: PACKAGE is installed when PATH does not exist.
need_file() { [ -e "$1" ] || missing="$missing $2"; }
need etcd etcd-server
need etcdctl etcd-client
need openssl openssl
need systemd-analyze systemd
need curl curl
need ip iproute2
need dpkg-deb dpkg
need lintian lintian
need qemu-aarch64-static qemu-user-static
need_file /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 libc6-arm64-cross
need_file /usr/aarch64-linux-gnu/lib/libstdc++.so.6 libstdc++6-arm64-cross
need_file /usr/aarch64-linux-gnu/lib/libgcc_s.so.1 libgcc-s1-arm64-cross
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: missing$missing and this is not a Debian/Ubuntu system; install them by hand" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "ensure-test-deps: installing needs root (or sudo); run: apt-get install$missing" >&2
    exit 1
  fi
fi

echo "ensure-test-deps: installing$missing with apt-get" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing

# On a host with systemd the package enables and starts etcd on 127.0.0.1:2379; the tests
# never use it, and it should not keep running after a test setup.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi

command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 || {
  echo "ensure-test-deps: etcd-server/etcd-client installed but etcd or etcdctl is still not on PATH" >&2
  exit 1
}
etcd --version | head -n 1 >&2
