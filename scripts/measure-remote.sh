#!/usr/bin/env bash
# Serving against a remote SPARQL store, as ratios to the local store in the same run
# (docs/remote-store.md, "Measured").
#
#   bash scripts/measure-remote.sh WORKDIR [KG]
#
# KG: an N-Quads file to `kgrec load` (default: the bundled sample), or beauty:DIR to
# `kgrec import beauty DIR` (full Beauty: beauty:../shared/datasets/amazon-beauty/derived).
#
# Virtuoso as a shop with that much data would set it up, where Debian's virtuoso.ini is not
# enough: KGREC_VIRTUOSO_MAX_ROWS=N raises its cap on an answer's rows (ResultSetMaxRows, 10,000);
# KGREC_VIRTUOSO_BUFFERS=N sets NumberOfBuffers (10,000 pages of 8 kB) and MaxDirtyBuffers to 3/4 of it;
# KGREC_VIRTUOSO_TXN_LIMIT=BYTES sets TransactionAfterImageLimit (50 MB). KGREC_REMOTE_COMMIT=graph
# commits loads into either service graph by graph (docs/remote-store.md). KGREC_MEASURE_START_ONLY=1
# measures loads and start-ups without the latency runs.
#
# Starts oxigraph's server (PyPI, in scripts/test.sh's venv) and Virtuoso (Debian) on free ports,
# loads KG into each and into a local store, trains one model on the local store, then for each
# store: training's start-up (`kgrec eval`'s reading of the interactions and of the KG, the eval
# stopped there), `kgrec serve`'s start-up (until it answers) and scripts/bench-serve.sh's latency over
# the same registry (explanations of KGREC_ASK_USERS users, 10, checked by ASK through the
# service). Each step runs alone.
set -euo pipefail
work=${1:?workdir}
kg=${2:-kg-data/amazon-beauty-sample.nq.gz}
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
kgrec=${KGREC_BIN:-$target/debug/kgrec}
venv=${KGREC_TEST_VENV:-$HOME/.cache/kgrec-test-venv}
rm -rf "$work" && mkdir -p "$work/ox" "$work/virtuoso"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { until python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do sleep 0.2; done; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

ox=$(port)
"$venv/bin/oxigraph" serve --location "$work/ox" --bind "127.0.0.1:$ox" >/dev/null 2>&1 &
pids+=($!)
sql=$(port) http=$(port)
sed -e "s|/var/lib/virtuoso-opensource-7/db/|$work/virtuoso/|" -e "s|= 1111|= $sql|" -e "s|= 8890|= $http|" \
  -e "s|^ResultSetMaxRows *=.*|ResultSetMaxRows = ${KGREC_VIRTUOSO_MAX_ROWS:-10000}|" \
  -e "s|^NumberOfBuffers *=.*|NumberOfBuffers = ${KGREC_VIRTUOSO_BUFFERS:-10000}|" \
  -e "s|^MaxDirtyBuffers *=.*|MaxDirtyBuffers = $((${KGREC_VIRTUOSO_BUFFERS:-10000} * 3 / 4))|" \
  -e "s|^\[Parameters\]|[Parameters]\nTransactionAfterImageLimit = ${KGREC_VIRTUOSO_TXN_LIMIT:-50000000}|" \
  /etc/virtuoso-opensource-7/virtuoso.ini >"$work/virtuoso/virtuoso.ini"
virtuoso-t +foreground +configfile "$work/virtuoso/virtuoso.ini" >/dev/null 2>&1 &
pids+=($!)
wait_port "$ox"
wait_port "$http"
sleep 2
isql-vt "$sql" dba dba 'exec=grant SPARQL_UPDATE to "SPARQL";' >/dev/null

commit=${KGREC_REMOTE_COMMIT:+,commit=$KGREC_REMOTE_COMMIT}
declare -A stores=(
  [local]="$work/local"
  [oxigraph-server]="query=http://127.0.0.1:$ox/query,update=http://127.0.0.1:$ox/update,gsp=http://127.0.0.1:$ox/store$commit"
  [virtuoso]="query=http://127.0.0.1:$http/sparql,gsp=http://127.0.0.1:$http/sparql-graph-crud$commit"
)
names=(local oxigraph-server virtuoso)
case "$kg" in
  beauty:*) load=(import beauty "${kg#beauty:}") ;;
  *) load=(load "$kg") ;;
esac
for name in "${names[@]}"; do
  /usr/bin/time -f "%e" -o "$work/$name.load.time" \
    "$kgrec" --store "${stores[$name]}" --no-default-kg "${load[@]}" >/dev/null 2>"$work/$name.load.err" ||
    { echo "load into $name failed:" >&2; tail -5 "$work/$name.load.err" >&2; exit 1; }
done
# Training's start-up: the eval's log times reading the interactions ("… labelled negatives (Xs)")
# and reading the KG ("reading the KG: done in Xs"); the eval is stopped once both are read.
echo "| store | reading the interactions s | reading the KG s | both ÷ local |"
echo "|---|---|---|---|"
for name in "${names[@]}"; do
  log="$work/$name.eval.err"
  "$kgrec" --store "${stores[$name]}" --registry "$work/eval-models" eval --protocol loo --models walk-knn \
    --walks-per-node 1 --sg-epochs 1 --seeds 1 >/dev/null 2>"$log" &
  pid=$!
  until grep -q "reading the KG: done" "$log"; do
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.5
  done
  kill $pid
  wait $pid 2>/dev/null || true
  interactions=$(grep -oE "labelled negatives \([0-9.]+s\)" "$log" | head -1 | grep -oE "[0-9.]+")
  projection=$(grep -oE "reading the KG: done in [0-9.]+s" "$log" | head -1 | grep -oE "[0-9.]+s$" | tr -d s)
  python3 -c "print(f'{$interactions + $projection:.1f}')" >"$work/$name.startup"
  python3 -c "
local = float(open('$work/local.startup').read())
print(f'| $name | $interactions | $projection | {($interactions + $projection) / local:.1f}× |')"
done
echo
"$kgrec" --store "$work/local" --registry "$work/models" train --model kgrec-no-text --epochs 1 \
  --walks-per-node 1 --sg-epochs 1 --weight-average-epochs 0 >/dev/null 2>"$work/train.err"

echo "| store | load s | serve start s | serve start ÷ local |"
echo "|---|---|---|---|"
for name in "${names[@]}"; do
  p=$(port)
  started=$(date +%s.%N)
  "$kgrec" --store "${stores[$name]}" --registry "$work/models" serve --addr "127.0.0.1:$p" \
    --watch-registry 0 2>"$work/$name.serve.err" &
  pid=$!
  until grep -q "serving on" "$work/$name.serve.err"; do
    kill -0 $pid 2>/dev/null || { cat "$work/$name.serve.err" >&2; exit 1; }
    sleep 0.1
  done
  python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')" >"$work/$name.start"
  kill $pid
  wait $pid 2>/dev/null || true
  python3 -c "
local = float(open('$work/local.start').read())
this = float(open('$work/$name.start').read())
print(f'| $name | {float(open(\"$work/$name.load.time\").read()):.1f} | {this:.1f} | {this / local:.1f}× |')"
done
[ -n "${KGREC_MEASURE_START_ONLY:-}" ] && exit 0
for name in "${names[@]}"; do
  echo
  echo "### $name"
  KGREC_BIN=$kgrec KGREC_ASK_USERS=${KGREC_ASK_USERS:-10} bash scripts/bench-serve.sh "${stores[$name]}" "$work/models" 10 2>/dev/null
done
