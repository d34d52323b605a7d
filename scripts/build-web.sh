#!/usr/bin/env bash
# Builds the workbench page (web/src) into web/dist, which is committed and which build.rs
# embeds in the binary: building kgrec needs neither Node nor the network. Pinned packages
# (web/package-lock.json), content-hashed names and timestamp-free gzip make the output the
# same byte for byte; rerun after changing web/src and commit web/dist with it.
#   bash scripts/build-web.sh            rebuild web/dist
#   bash scripts/build-web.sh --check    fail if web/dist is not what web/src builds (tests run this)
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --silent
if [ "${1:-}" = --check ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  node build.mjs "$fresh" >/dev/null
  diff -r "$fresh" dist >/dev/null \
    || { echo "web/dist is not what web/src builds: run scripts/build-web.sh and commit web/dist" >&2; exit 1; }
  echo "web/dist is what web/src builds"
else
  node build.mjs
fi
