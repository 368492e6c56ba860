#!/usr/bin/env bash
# Builds the Worker bundle (workers/build/) with worker-build, pointing it at the tools installed
# on this machine so that it never downloads anything. Run by wrangler ([build] in wrangler.toml).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
# npm start builds once before serving; wrangler's own build step would only repeat it.
if [ "${CREATOR_OS_SKIP_BUILD:-0}" = "1" ] && [ -f "$root/workers/build/index.js" ]; then
  exit 0
fi
# The browser editor's engine (public/pkg/), served as static assets next to the page.
bash "$root/scripts/build-web.sh"
cd "$root/workers"
if [ "${WORKER_OPTIMIZE:-0}" = "1" ]; then
  worker-build --release
else
  worker-build --profile worker-dev --no-opt
fi
