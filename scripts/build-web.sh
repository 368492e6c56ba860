#!/usr/bin/env bash
# Builds the browser editor's engine: editor-core compiled to wasm (web target, SIMD128) by
# editor-core/wasm/build.sh, copied into public/pkg/ where Workers Static Assets serves it next to
# the page. Run by scripts/build-worker.sh, so `npm start` and `npm test` both produce it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
bash "$root/editor-core/wasm/build.sh" >&2
mkdir -p "$root/public/pkg"
# Only what the page loads: the ES module glue and the wasm binary (no typings, no manifest).
cp "$root/editor-core/wasm/pkg/editor_core_wasm.js" "$root/editor-core/wasm/pkg/editor_core_wasm_bg.wasm" "$root/public/pkg/"
