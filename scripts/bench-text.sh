#!/usr/bin/env bash
# Text-encoder speed: kgrec's TextEncoder against sentence-transformers, on the same 2,000
# Amazon Beauty product texts (rendered by kgrec from the bundled default KG), 2 threads,
# batch 32, in the same run. Prints sentences/s for each and the ratio kgrec / ST.
#
#   bash scripts/bench-text.sh                  # extra arguments go to benches/text.rs
#   bash scripts/bench-text.sh --candle         # also time candle-transformers' BERT
#
# The first run creates the Python environment (torch, sentence-transformers; a few GB, in
# $KGREC_TEXT_VENV, default ~/.cache/kgrec-text-venv) and fetches the model into models/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
# Creates the venv when needed and prints its Python.
python=$(python3 scripts/text_common.py)
cargo bench --profile dev --bench text -- --python "$python" "$@"
