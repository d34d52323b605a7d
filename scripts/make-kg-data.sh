#!/usr/bin/env bash
# Regenerates kg-data/amazon-beauty-sample.nq.gz, the bundled default KG, from ../shared:
# 1,500 Amazon Beauty users (chosen deterministically), every product they touched, and those
# products' brands, categories and the relations among them. Uses kgrec's own importer and
# exporter, so the sample is exactly what `kgrec import beauty` produces.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
USERS=${USERS:-1500}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/kgrec
"$bin" --store "$tmp/store" --no-default-kg import beauty "$SHARED/datasets/amazon-beauty/derived" --sample-users "$USERS" >/dev/null
"$bin" --store "$tmp/store" export --format nquads -o "$tmp/all.nq"
mkdir -p kg-data
# N-Quads keep the named graphs; the import record (meta graph) stays out; sorting makes the
# file reproducible byte for byte.
grep -v '<https://w3id.org/kgrec/graph/meta> \.$' "$tmp/all.nq" | LC_ALL=C sort | gzip -9n > kg-data/amazon-beauty-sample.nq.gz
ls -l kg-data/amazon-beauty-sample.nq.gz
