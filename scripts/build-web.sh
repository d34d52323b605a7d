#!/usr/bin/env bash
# Builds the workbench page (web/src) into web/dist, which is committed and which build.rs
# embeds in the binary: building kgrec needs neither Node nor the network. Pinned packages
# (web/package-lock.json), content-hashed names and timestamp-free gzip make the output the
# same byte for byte; rerun after changing web/src and commit web/dist with it.
#   bash scripts/build-web.sh [--check]    (--check: fail if web/dist is not what web/src builds)
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --silent
node build.mjs
if [ "${1:-}" = --check ]; then
  git diff --exit-code --stat -- dist && test -z "$(git status --porcelain -- dist)" \
    || { echo "web/dist differs from what web/src builds: run scripts/build-web.sh and commit it" >&2; exit 1; }
fi
