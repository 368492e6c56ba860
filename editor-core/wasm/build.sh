#!/usr/bin/env bash
# Builds the browser/Node package of editor-core into editor-core/wasm/pkg (web target) and
# editor-core/wasm/pkg-node (Node target, used by parity.mjs and bench.mjs).
# SIMD128 is on for every wasm32 build through the workspace's .cargo/config.toml; it is
# repeated here so the script also works from a checkout without it. The wasm build uses its
# own target directory so changed RUSTFLAGS never invalidate the native build's cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if ! command -v wasm-bindgen >/dev/null || [[ "$(wasm-bindgen --version)" != *0.2.130* ]]; then
  cargo install wasm-bindgen-cli --version 0.2.130
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/wasm-simd}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 --cfg getrandom_backend=\"wasm_js\""
cargo build --release --target wasm32-unknown-unknown -p editor-core-wasm
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/editor_core_wasm.wasm"
wasm-bindgen --target web --out-dir "$here/pkg" "$wasm"
wasm-bindgen --target nodejs --out-dir "$here/pkg-node" "$wasm"
# The repository's package.json says "type": "module"; the Node target is CommonJS.
echo '{ "type": "commonjs" }' > "$here/pkg-node/package.json"
ls -l "$here/pkg/"*.wasm "$here/pkg-node/"*.wasm
