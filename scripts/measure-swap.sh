#!/usr/bin/env bash
# Resident memory of `kgrec serve` before, during and after a model swap (docs/replicas.md).
#
#   bash scripts/measure-swap.sh STORE REGISTRY
#
# Serves the newest version of REGISTRY over STORE, registers a copy of it as the next version
# (as a finished `kgrec train` would), asks the service to swap (POST /v1/admin/reload), and
# samples VmRSS every 50 ms throughout; then once more. The copies are removed at the end.
set -euo pipefail
store=${1:?store}
registry=${2:?registry}
target=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
kgrec=${KGREC_BIN:-$target/debug/kgrec}
token=measure-swap-token
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$kgrec" --store "$store" --registry "$registry" serve --addr "127.0.0.1:$port" \
  --update-token "$token" --watch-registry 0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf $added "$log" "$log.reply"' EXIT
until grep -q "serving on" "$log"; do
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
rss() { awk '/VmRSS/ {print $2 * 1024}' /proc/$pid/status; }
mib() { python3 -c "print(f'{$1/2**20:.0f} MiB')"; }
# Warm: one answer of each kind, so that lazily built state is counted before the swap.
curl -s "http://127.0.0.1:$port/health" >/dev/null
swap() {
  before=$(rss)
  last=$(ls "$registry" | sed -n 's/^v\([0-9]*\)$/\1/p' | sort -n | tail -1)
  next=$((last + 1))
  added="$added $registry/v$next"
  cp -r "$registry/v$last" "$registry/.v$next.partial"
  python3 - "$registry/.v$next.partial/entry.json" "$next" <<'EOF'
import json, sys
path, version = sys.argv[1], int(sys.argv[2])
entry = json.load(open(path))
entry["version"], entry["folder"] = version, f"v{version}"
json.dump(entry, open(path, "w"))
EOF
  mv "$registry/.v$next.partial" "$registry/v$next"
  peak=$before
  curl -s -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/admin/reload" >"$log.reply" &
  curl_pid=$!
  while kill -0 $curl_pid 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.05
  done
  sleep 2
  after=$(rss)
  echo "reload: $(cat "$log.reply")"
  echo "RSS before $(mib "$before"), peak during $(mib "$peak"), after $(mib "$after")"
}
# Twice: the first swap also hands back what the start-up's reads left free in the heap.
added=""
swap
swap
