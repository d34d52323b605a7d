#!/usr/bin/env bash
# Time and memory of each part of kgrec against the size of the KG (docs/scale.md).
#
#   bash scripts/scale-curve.sh WORKDIR USERS...        e.g. bash scripts/scale-curve.sh /tmp/scale 12500 25000 50000 100000
#
# For each size: a synthetic KG (scripts/synthetic-kg.py), then, each step alone, with wall time
# and peak RSS from GNU time: `kgrec load`; the training start-up (`eval --models walk-knn`:
# reading the interactions and the KG, walks, skip-gram); a one-epoch kgrec-no-text training;
# and `kgrec serve`'s start (its load time and resident memory once it answers).
set -euo pipefail
work=${1:?workdir}
shift
target=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
kgrec=${KGREC_BIN:-$target/debug/kgrec}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
# A stage's time from a progress log: the first "NAME: done in Xs" (the last, with "last").
stage() {
  grep -o "$1: done in [0-9.]*s" "$2" | { [ "${3:-}" = last ] && tail -1 || head -1; } | grep -o "[0-9.]*s$" || echo "-"
}
# Reading the interactions is timed by the line that counts them: "… labelled negatives (Xs)".
interactions_read() { grep -oE "labelled negatives \([0-9.]+s\)" "$1" | head -1 | grep -oE "[0-9.]+s" || echo "-"; }
printf "users\tquads\tstore_MiB\tload_s\tload_MiB\tread_interactions_s\tread_kg_s\tstartup_MiB\tskipgram_s\ttrain_epoch_s\ttrain_MiB\tserve_start_s\tserve_MiB\n"
for users in "$@"; do
  kg="$work/syn-$users.nq.gz"
  store="$work/store-$users"
  registry="$work/models-$users"
  rm -rf "$store" "$registry"
  [ -f "$kg" ] || python3 "$here/synthetic-kg.py" --users "$users" --out "$kg" >&2
  log="$work/$users"
  /usr/bin/time -f "%e %M" -o "$log.load.time" "$kgrec" --store "$store" --no-default-kg load "$kg" 2>"$log.load.err"
  quads=$("$kgrec" --store "$store" stats 2>/dev/null | awk '/^quads:/ {print $2}')
  store_mib=$(du -sm "$store" | cut -f1)
  /usr/bin/time -f "%e %M" -o "$log.eval.time" "$kgrec" --store "$store" --registry "$registry" eval \
    --protocol loo --models walk-knn --walks-per-node 1 --sg-epochs 1 --seeds 1 >"$log.eval.out" 2>"$log.eval.err"
  /usr/bin/time -f "%e %M" -o "$log.train.time" "$kgrec" --store "$store" --registry "$registry" train \
    --model kgrec-no-text --epochs 1 --walks-per-node 1 --sg-epochs 1 --weight-average-epochs 0 \
    >"$log.train.out" 2>"$log.train.err"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  started=$(date +%s.%N)
  "$kgrec" --store "$store" --registry "$registry" serve --addr "127.0.0.1:$port" --watch-registry 0 2>"$log.serve.err" &
  pid=$!
  until grep -q "serving on" "$log.serve.err"; do
    kill -0 $pid 2>/dev/null || { cat "$log.serve.err" >&2; exit 1; }
    sleep 0.1
  done
  serve_s=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
  serve_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  read -r load_s load_kib <"$log.load.time"
  read -r _ eval_kib <"$log.eval.time"
  read -r _ train_kib <"$log.train.time"
  # Skip-gram is timed in `train`: walk-knn's stage of that name in `eval` also scores every user.
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$users" "${quads:--}" "$store_mib" \
    "$load_s" $((load_kib / 1024)) \
    "$(interactions_read "$log.eval.err")" "$(stage "reading the KG" "$log.eval.err")" $((eval_kib / 1024)) \
    "$(stage skip-gram "$log.train.err")" "$(stage training "$log.train.err" last)" $((train_kib / 1024)) \
    "$serve_s" $((serve_kib / 1024))
done
