#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the tests need and the machine
# lacks (npm packages; Debian packages, see scripts/ensure-test-deps.sh), type-checks
# (Bun strips types without checking them, so a type error fails here or nowhere), builds
# the single binary, then runs every bun:test file.
# Extra arguments go to `bun test` (e.g. a path filter). A JUnit report lands in
# .tmp/junit.xml for CI.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/ensure-test-deps.sh
echo "test: type-checking (tsc -p .)" >&2
npx --no-install tsc -p .
npx --no-install bun scripts/build.ts
mkdir -p .tmp
exec npx --no-install bun test --timeout 120000 --reporter=junit --reporter-outfile=.tmp/junit.xml "$@"
