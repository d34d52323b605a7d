#!/usr/bin/env bash
# The HTTP service under load, on loopback: wrk (installed from Debian when missing) against
# `kgrec serve` on a store with a registered model, then explanation coverage and validity.
#
#   scripts/bench-serve.sh STORE REGISTRY [SECONDS]
#
# KGREC_BIN=PATH serves with that binary instead of building this checkout's (to compare two
# commits in one session). KGREC_ASK_USERS=N checks the explanations of N users by ASK (200).
# Reports, for /v1/users/{id}/recommendations?k=10 (with and without explain=true) and
# /v1/explain: requests/s and p50/p99 latency at 64 connections, the service's resident
# memory after warm-up, and the share of recommendations with a KG path of at most 3 hops.
# Users are drawn at random from the store's users, the same for every run (seeded).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:?usage: scripts/bench-serve.sh STORE REGISTRY [SECONDS]}
registry=${2:?usage: scripts/bench-serve.sh STORE REGISTRY [SECONDS]}
seconds=${3:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
if [ -z "${KGREC_BIN:-}" ]; then
  cargo build --quiet --bin kgrec
fi
kgrec=${KGREC_BIN:-$CARGO_TARGET_DIR/debug/kgrec}
work=$(mktemp -d)
port=${KGREC_BENCH_PORT:-7890}
"$kgrec" --store "$store" --registry "$registry" serve --addr "127.0.0.1:$port" --workers 2 \
  2> "$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  grep -q "serving on" "$work/serve.log" && break
  kill -0 $pid 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
base="http://127.0.0.1:$port"
cat "$work/serve.log" >&2
python3 scripts/serve_check.py "$base" "$work" 2000 "${KGREC_ASK_USERS:-200}"
rss() { awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status"; }
run() { # name, ids file, path template
  KGREC_IDS="$2" KGREC_PATH="$3" wrk -t2 -c64 -d"${seconds}s" --latency \
    -s benches/serve/users.lua "$base" > "$work/wrk.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}" "$(rss)"
}
# Warm-up: every user once is not needed; a short run fills the caches the way traffic does.
KGREC_IDS="$work/users.txt" KGREC_PATH="/v1/users/{user}/recommendations?k=10" \
  wrk -t2 -c64 -d5s -s benches/serve/users.lua "$base" > /dev/null
echo "RSS after warm-up: $(rss)"
echo
echo "| route | req/s | p50 | p99 | non-2xx | RSS after |"
echo "|---|---|---|---|---|---|"
run "recommendations k=10" "$work/users.txt" "/v1/users/{user}/recommendations?k=10"
run "recommendations k=10, explain=true" "$work/users.txt" "/v1/users/{user}/recommendations?k=10&explain=true"
run "explain (user, recommended item)" "$work/pairs.txt" "/v1/explain?user={user}&item={item}"
