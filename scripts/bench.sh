#!/usr/bin/env bash
# Every benchmark; one `bench <name>: <value> <unit>` line per figure on stdout
# (progress goes to stderr).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
note() { echo "[bench] $*" >&2; }

if [ -f editor-core/benches/r1.rs ]; then
  note "editor-core native (R1)"
  cargo bench -p editor-core --bench r1 2>/dev/null | grep '^bench '
fi
if [ -f editor-core/wasm/bench.mjs ]; then
  note "editor-core wasm (R1, Node)"
  bash editor-core/wasm/build.sh >&2
  node editor-core/wasm/bench.mjs | grep '^bench '
fi

note "building the Worker as deployed (LTO + wasm-opt)"
WORKER_OPTIMIZE=1 bash scripts/build-worker.sh >&2
gzip_bytes=$(cat workers/build/index_bg.wasm workers/build/index.js workers/entry.mjs | gzip -9 | wc -c)
echo "bench worker_wasm_gzip_bytes: ${gzip_bytes} bytes"

note "identity in local workerd"
CREATOR_OS_PREBUILT=1 node tests/bench/identity.mjs

note "project room in local workerd (10/50/100 clients)"
CREATOR_OS_PREBUILT=1 node tests/bench/room.mjs

note "asset uploads in local workerd (32 MiB, single request and multipart)"
CREATOR_OS_PREBUILT=1 node tests/bench/upload.mjs

note "ProEditor preview in headless Chromium (R1 1080p/540p, first frame)"
CREATOR_OS_PREBUILT=1 node tests/bench/preview.mjs

note "jobs in local workerd: R1 render throughput per consumer"
CREATOR_OS_PREBUILT=1 node tests/bench/render.mjs

note "jobs in local workerd: tenant fairness (A: 200 renders, B: 5)"
CREATOR_OS_PREBUILT=1 node tests/bench/fairness.mjs

note "MCP server in local workerd (tool latency, catalog size)"
CREATOR_OS_PREBUILT=1 node tests/bench/mcp.mjs

note "agent runs in local workerd: a 10-image slideshow recipe"
CREATOR_OS_PREBUILT=1 node tests/bench/agents.mjs
note "commerce in local workerd: order, checkout, signed webhook fulfilment"
CREATOR_OS_PREBUILT=1 node tests/bench/commerce.mjs
note "marketplace in local workerd: search over 1,000 listings, use template"
CREATOR_OS_PREBUILT=1 node tests/bench/marketplace.mjs
note "analytics in local workerd: capture throughput, queued ingest, query latency"
CREATOR_OS_PREBUILT=1 node tests/bench/analytics.mjs
note "workflows in local workerd (per-step overhead, one-step run, for_each fan-out)"
CREATOR_OS_PREBUILT=1 node tests/bench/automation.mjs
