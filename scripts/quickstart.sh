#!/usr/bin/env bash
# The main job on the embedded file registry, no etcd needed: build the binary, store the
# example network config, acquire a subnet for this host and print its subnet.env.
# State lives under .tmp/quickstart/; run it again and the same lease is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
npx --no-install bun scripts/build.ts >&2

state=.tmp/quickstart
mkdir -p "$state"
registry=(--registry file --registry-file "$state/registry.json")
./dist/sublease config put examples/network.json "${registry[@]}"

# Without a default route there is no public address to detect; use a documentation one.
host=()
if ! grep -q '^[^ ]*\s00000000\s' /proc/net/route 2>/dev/null; then host=(--public-ip 192.0.2.10); fi
./dist/sublease acquire "${registry[@]}" --subnet-file "$state/subnet.env" "${host[@]}" --log-level info "$@"
