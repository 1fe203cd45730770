#!/bin/sh
# Installs Debian's containernetworking-plugins (for /usr/lib/cni/host-local, the CNI IPAM
# plugin the file registry is compared with) when it is missing. Exits 1 with a reason on
# stderr when it cannot: the benchmark then reports that comparison as skipped.
set -eu
[ -x /usr/lib/cni/host-local ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "not a Debian/Ubuntu system: install containernetworking-plugins by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "installing needs root (or sudo): apt-get install containernetworking-plugins" >&2; exit 1; }
  SUDO="sudo -n"
fi
echo "bench: installing containernetworking-plugins with apt-get" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containernetworking-plugins >&2 ||
  { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containernetworking-plugins >&2; }
[ -x /usr/lib/cni/host-local ]
