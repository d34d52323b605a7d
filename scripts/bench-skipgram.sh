#!/usr/bin/env bash
# kgrec's skip-gram against gensim on the same Beauty walk corpus (see benches/skipgram.rs).
# Installs gensim into a virtualenv under ~/.cache, then runs the benchmark; extra arguments
# go to the benchmark (e.g. --epochs 5 --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
venv=${KGREC_BENCH_VENV:-$HOME/.cache/kgrec-bench-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet gensim
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
cargo bench --profile dev --bench skipgram -- --python "$venv/bin/python" "$@"
