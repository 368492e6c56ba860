#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit/property/golden tests (native), the
# editor-core wasm build's pixel parity with native, then end-to-end tests of the real Worker in
# local workerd (and browser tests in Chromium where present).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
started=$(date +%s)
section() { echo; echo "=== $* ($(( $(date +%s) - started )) s)"; }

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (native crates, all targets)"
cargo clippy --all-targets -- -D warnings
section "cargo clippy (Worker and bindings for wasm32)"
cargo clippy -p creator-os-worker -p durable-objects -p editor-core-wasm --target wasm32-unknown-unknown -- -D warnings

section "cargo test (native)"
# The Worker crate's pure parts (routing, password policy, rate limiting) run natively too.
cargo test --workspace --exclude editor-core-wasm

if [ -f editor-core/wasm/build.sh ]; then
  section "editor-core wasm build and native/wasm pixel parity"
  bash editor-core/wasm/build.sh
  node editor-core/wasm/parity.mjs
fi

section "build the Worker"
bash scripts/build-worker.sh

section "end-to-end tests (local workerd)"
export CREATOR_OS_PREBUILT=1
node --test --test-concurrency=1 tests/*.test.mjs

section "done"
