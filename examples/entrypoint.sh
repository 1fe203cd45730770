#!/bin/sh
# Container entrypoint: acquire this host's subnet lease once, then replace this shell with
# the real process, with subnet.env's variables (FLANNEL_NETWORK, FLANNEL_SUBNET,
# FLANNEL_MTU, FLANNEL_IPMASQ, ...) in its environment.
#
#   ENTRYPOINT ["/entrypoint.sh"]
#   CMD ["my-daemon", "--flag"]
#
# sublease reads every setting from the environment: SUBLEASE_<FLAG> or flanneld's
# FLANNELD_<FLAG>, e.g. -e SUBLEASE_ETCD_ENDPOINTS=http://10.0.0.5:2379
# -e SUBLEASE_PUBLIC_IP=192.0.2.10. In a container the default route's address is the
# container's own, so set the host's public IP (or run with the host's network), and set
# SUBLEASE_IFACE_MTU when /sys/class/net is not the host's.
#
# If acquire fails, the real process is not started and this script exits with sublease's
# exit code (3: registry unreachable, 4: no network config, 5: out of subnets, ...).
set -eu

if [ "$#" -eq 0 ]; then
  echo "entrypoint.sh: no command given: run as entrypoint.sh COMMAND [ARG...]" >&2
  exit 2
fi

subnet_file=${SUBLEASE_SUBNET_FILE:-${FLANNELD_SUBNET_FILE:-/run/flannel/subnet.env}}
# "." searches PATH for a name without a slash: make sure it reads this file.
case "$subnet_file" in
  */*) ;;
  *) subnet_file=./$subnet_file ;;
esac

# subnet.env goes to stderr (the container log), keeping stdout for the real process.
status=0
sublease acquire --subnet-file "$subnet_file" >&2 || status=$?
if [ "$status" -ne 0 ]; then
  echo "entrypoint.sh: sublease acquire failed with exit code $status: not starting $1" >&2
  exit "$status"
fi

# Export every variable subnet.env sets, so the real process inherits them.
set -a
. "$subnet_file"
set +a
exec "$@"
