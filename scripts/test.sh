#!/usr/bin/env bash
# The test suite: unit tests, and integration tests that drive the real binary and store.
# Tests that import the full datasets read ../shared/datasets and skip with a message when
# it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
cargo test "$@"
