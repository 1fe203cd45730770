#!/bin/sh
# Makes sure `etcd` and `etcdctl` are on PATH for the integration and e2e tests: installs
# Debian's etcd-server and etcd-client when either is missing, does nothing otherwise.
# The tests start their own etcd on free loopback ports; the packaged system service is
# not wanted, so it is stopped again when the package started it.
set -eu

if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-etcd: etcd is not installed and this is not a Debian/Ubuntu system; install etcd 3.4+ (etcd and etcdctl on PATH)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "ensure-etcd: installing etcd needs root (or sudo); run: apt-get install etcd-server etcd-client" >&2
    exit 1
  fi
fi

echo "ensure-etcd: installing etcd-server and etcd-client with apt-get" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends etcd-server etcd-client

# On a host with systemd the package enables and starts etcd on 127.0.0.1:2379; the tests
# never use it, and it should not keep running after a test setup.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi

command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 || {
  echo "ensure-etcd: etcd-server/etcd-client installed but etcd or etcdctl is still not on PATH" >&2
  exit 1
}
etcd --version | head -n 1 >&2
