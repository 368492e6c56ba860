// Native/wasm parity check: renders R1 at its boundary frames in wasm (Node) and compares each
// frame hash, and the decoded fixture images, with the native renderer's.
//
// Run: editor-core/wasm/build.sh && node editor-core/wasm/parity.mjs
//   (or pass native hashes made earlier: node parity.mjs --native 1=FILE --native 0.5=FILE)
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);
const { Editor } = require(join(here, 'pkg-node', 'editor_core_wasm.js'));

const scales = [1, 0.5, 0.25];
const given = {};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--native') {
    const [scale, file] = args[++i].split('=');
    given[Number(scale)] = JSON.parse(readFileSync(file, 'utf8'));
  }
}

function nativeHashes(scale) {
  if (given[scale]) return given[scale];
  const out = execFileSync(
    'cargo',
    ['run', '--quiet', '--release', '-p', 'editor-core', '--example', 'render_r1', '--', '--scale', String(scale)],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return JSON.parse(out);
}

const fixtures = join(root, 'editor-core', 'tests', 'fixtures');
const editor = Editor.r1();
const files = {
  ast_r1_photo_a: 'r1_photo_a.jpg',
  ast_r1_photo_b: 'r1_photo_b.jpg',
  ast_r1_logo: 'r1_logo.png',
};
for (const [id, file] of Object.entries(files)) {
  editor.registerImageEncoded(id, readFileSync(join(fixtures, file)));
}

let passed = 0;
let failed = 0;
const check = (name, wasm, native) => {
  if (wasm === native) {
    passed++;
  } else {
    failed++;
    console.log(`MISMATCH ${name}: wasm ${wasm} native ${native}`);
  }
};

for (const scale of scales) {
  const native = nativeHashes(scale);
  if (scale === scales[0]) {
    for (const id of Object.keys(files)) check(`decode ${id}`, editor.imageHash(id), native.images[id]);
  }
  for (const [frame, hash] of Object.entries(native.hashes)) {
    editor.renderFrame(Number(frame), scale);
    check(`r1 frame ${frame} scale ${scale}`, editor.frameHash(), hash);
  }
  console.log(`scale ${scale}: ${Object.keys(native.hashes).length} frames compared`);
}
console.log(`parity: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
