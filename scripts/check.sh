#!/bin/sh
# The fast lane (`npm run check`): type check, lint, unit tests. No VM and no image build, so a
# type or lint error fails in seconds and a unit test in about a minute. The npm packages come
# first (type check and lint need nothing else); the Debian tools some unit tests call (mtools,
# e2fsprogs, QEMU's binaries for their version checks) before the unit tests.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh npm
npm run typecheck
npm run lint
sh scripts/bootstrap.sh
npm run unit
