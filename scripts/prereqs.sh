#!/usr/bin/env bash
# Installs what a fresh machine lacks to build kgrec: libclang (bindgen, for RocksDB inside
# oxigraph). Without it the build fails only after ~14 minutes, so check first.
set -euo pipefail
# (A fresh machine has libclang-cpp but not libclang itself, so ask for the package.)
if [ -z "${LIBCLANG_PATH:-}" ] && ! dpkg -s libclang-dev >/dev/null 2>&1; then
  echo "installing libclang-dev (needed by oxigraph's RocksDB build)…" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
fi
