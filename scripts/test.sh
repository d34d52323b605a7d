#!/usr/bin/env bash
# The test suite: unit tests, and integration tests that drive the real binary and store.
# The importer tests read the real datasets from ../shared/datasets, beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
# Doc tests are left out (there are none), so the run ends on the integration suite's summary.
cargo test --lib --bins --tests "$@"
