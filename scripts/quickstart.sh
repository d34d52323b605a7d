#!/usr/bin/env bash
# The main job on the bundled default KG: build kgrec, create ./data/store, load the bundled
# Amazon Beauty sample into it on first run, and show what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
cargo run --quiet -- start "$@"
