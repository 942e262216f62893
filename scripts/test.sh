#!/bin/sh
# test.sh [configure options]: build (scripts/build.sh, out of tree in
# build/) and run the whole test suite (`make test`: prove -v t/).
#   scripts/test.sh
#   scripts/test.sh --enable-sanitizers
# Exits non-zero when the build or any test fails.  .ci/run calls this.
set -eu

cd "$(dirname "$0")/.."
scripts/build.sh "$@"
make -C "${MCS_BUILD_DIR:-build}" test
