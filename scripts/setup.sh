#!/usr/bin/env bash
# Installs whatever is missing to build, run and test Creator OS, from the package registries
# only: npm packages, the wasm32 target, worker-build, wasm-bindgen-cli and (for browser tests)
# Chromium. Idempotent: a second run takes a second.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
step() { echo "[setup] $*"; }

if ! command -v cargo >/dev/null; then
  echo "[setup] Rust (cargo) is required: install it with rustup first" >&2
  exit 1
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! worker-build --version 2>/dev/null | grep -q "0\.8\.7"; then
  step "installing worker-build 0.8.7 (a few minutes, once)"
  cargo install worker-build --version 0.8.7 --locked
fi

# Not --locked: one of its locked dependencies is missing from the registry mirror.
if ! wasm-bindgen --version 2>/dev/null | grep -q "0\.2\.130"; then
  step "installing wasm-bindgen-cli 0.2.130 (a few minutes, once)"
  cargo install wasm-bindgen-cli --version 0.2.130
fi

if [ "${SETUP_BROWSER:-0}" = "1" ] && ! command -v chromium >/dev/null; then
  step "installing Chromium for the browser tests"
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
step "ready"
