// Benchmark of the wasm build (SIMD128) on the reference timeline R1, same method as the native
// bench (editor-core/benches/r1.rs): every 10th frame of the 10 s timeline, 5 passes after a
// warm-up pass, median per-frame time.
//
// Run: editor-core/wasm/build.sh && node editor-core/wasm/bench.mjs
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { Editor } = require(join(here, 'pkg-node', 'editor_core_wasm.js'));

const fixtures = join(here, '..', 'tests', 'fixtures');
const editor = Editor.r1();
editor.registerImageEncoded('ast_r1_photo_a', readFileSync(join(fixtures, 'r1_photo_a.jpg')));
editor.registerImageEncoded('ast_r1_photo_b', readFileSync(join(fixtures, 'r1_photo_b.jpg')));
editor.registerImageEncoded('ast_r1_logo', readFileSync(join(fixtures, 'r1_logo.png')));

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.round((v.length - 1) * p)];
const frames = [];
for (let f = 0; f < editor.duration(); f += 10) frames.push(f);

for (const [label, scale] of [['1080p', 1], ['540p', 0.5]]) {
  for (const f of frames) editor.renderFrame(f, scale);
  const total = [];
  const best = frames.map(() => Infinity);
  const crossfade = [];
  const listUs = [];
  for (let pass = 0; pass < 5; pass++) {
    for (const [i, f] of frames.entries()) {
      const t0 = process.hrtime.bigint();
      editor.renderFrame(f, scale);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      total.push(ms);
      best[i] = Math.min(best[i], ms);
      if (f >= 135 && f < 165) crossfade.push(ms);
    }
  }
  for (const f of frames) {
    const t0 = process.hrtime.bigint();
    editor.displayListJson(f, scale);
    listUs.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const readout = [];
  for (let i = 0; i < 5; i++) {
    editor.renderFrame(frames[i], scale);
    const t0 = process.hrtime.bigint();
    editor.framePtr();
    readout.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(`bench r1_${label}_wasm_ms: ${median(total).toFixed(2)} ms`);
  console.log(`bench r1_${label}_wasm_p95_ms: ${pct(total, 0.95).toFixed(2)} ms`);
  console.log(`bench r1_${label}_wasm_crossfade_ms: ${median(crossfade).toFixed(2)} ms`);
  console.log(`bench r1_${label}_wasm_best_of_5_median_ms: ${median(best).toFixed(2)} ms`);
  console.log(`bench r1_${label}_wasm_best_of_5_worst_frame_ms: ${Math.max(...best).toFixed(2)} ms`);
  console.log(`bench r1_${label}_wasm_display_list_json_us: ${median(listUs).toFixed(1)} us`);
  console.log(`bench r1_${label}_wasm_rgba_readout_ms: ${median(readout).toFixed(2)} ms`);
}
