// Benchmark of ProEditor's preview in headless Chromium (the browser's wasm engine and canvas,
// served by the real Worker in local workerd):
// - preview_r1_1080p_fps / preview_r1_540p_fps: frames per second the preview pipeline draws on
//   the reference timeline R1 (editor-core `Editor.r1()` with its fixture images): render in
//   wasm, view the straight RGBA in wasm memory, putImageData onto a canvas, for every frame of
//   R1 in order, as fast as it goes (3 passes after a warm-up pass; the median pass).
// - editor_first_frame_ms: from navigation to the first preview frame on screen, opening a
//   project holding R1's timeline in the editor (median of 3 loads, browser cache warm).
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { GOOD_PASSWORD, root, signup, startApp } from "../harness.mjs";
import { launchBrowser, signInInPage } from "../support/browser.mjs";

const note = (m) => process.stderr.write(`[bench preview] ${m}\n`);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const require = createRequire(import.meta.url);
const fixtures = path.join(root, "editor-core", "tests", "fixtures");
const images = {
  ast_r1_photo_a: readFileSync(path.join(fixtures, "r1_photo_a.jpg")).toString("base64"),
  ast_r1_photo_b: readFileSync(path.join(fixtures, "r1_photo_b.jpg")).toString("base64"),
  ast_r1_logo: readFileSync(path.join(fixtures, "r1_logo.png")).toString("base64"),
};

note("starting the Worker and Chromium");
const app = await startApp();
const browser = await launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${app.base}/`);

  for (const [label, scale] of [["1080p", 1], ["540p", 0.5]]) {
    note(`R1 at ${label}`);
    const fps = await page.evaluate(async ({ images, scale }) => {
      const engine = await import("/pkg/editor_core_wasm.js");
      await engine.default();
      const editor = engine.Editor.r1();
      for (const [id, b64] of Object.entries(images)) {
        editor.registerImageEncoded(id, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      }
      const canvas = document.createElement("canvas");
      document.body.append(canvas);
      const ctx = canvas.getContext("2d");
      const draw = (frame) => {
        editor.renderFrame(frame, scale);
        const w = editor.frameWidth();
        const h = editor.frameHeight();
        if (canvas.width !== w || canvas.height !== h) {
          canvas.width = w;
          canvas.height = h;
        }
        const ptr = editor.framePtr();
        ctx.putImageData(new ImageData(new Uint8ClampedArray(engine.wasmMemory().buffer, ptr, editor.frameLen()), w, h), 0, 0);
      };
      const frames = editor.duration();
      for (let f = 0; f < frames; f++) draw(f);
      const passes = [];
      for (let pass = 0; pass < 3; pass++) {
        const t0 = performance.now();
        for (let f = 0; f < frames; f++) draw(f);
        // Make sure the canvas work is done, not just queued.
        ctx.getImageData(0, 0, 1, 1);
        passes.push((frames * 1000) / (performance.now() - t0));
      }
      canvas.remove();
      editor.free();
      return passes.sort((a, b) => a - b)[1];
    }, { images, scale });
    console.log(`bench preview_r1_${label}_fps: ${fps.toFixed(1)} fps`);
  }

  note("first frame of a project holding R1 in the editor");
  const user = await signup(app, "bench");
  const { Editor } = require(path.join(root, "editor-core", "wasm", "pkg-node", "editor_core_wasm.js"));
  const r1 = JSON.parse(Editor.r1().timelineJson());
  const created = await user.client.post(`/v1/orgs/${user.org.id}/projects`, { name: "R1", width: r1.settings.width, height: r1.settings.height, fps: r1.settings.frame_rate.num / r1.settings.frame_rate.den });
  const projectId = created.body.project.id;
  const commands = [
    { type: "set_project_settings", frame_rate: r1.settings.frame_rate, background: r1.settings.background },
    ...r1.tracks.map((track) => ({ type: "add_track", track })),
    ...(r1.markers ?? []).map((marker) => ({ type: "add_marker", marker })),
  ];
  const loaded = await user.client.post(`/v1/projects/${projectId}/commands`, { commands });
  if (loaded.status !== 200) throw new Error(`loading R1 failed: ${loaded.status} ${loaded.text}`);
  await signInInPage(page, app.base, { email: user.email, password: GOOD_PASSWORD });
  const times = [];
  for (let i = 0; i < 4; i++) {
    await page.goto(`${app.base}/app/projects/${projectId}`);
    await page.waitForFunction(() => window.proeditor?.firstFrameAt > 0, null, { timeout: 30000 });
    const ms = await page.evaluate(() => window.proeditor.firstFrameAt);
    if (i > 0) times.push(ms);
    note(`load ${i + 1}: ${ms.toFixed(0)} ms${i === 0 ? " (cold cache, not counted)" : ""}`);
  }
  console.log(`bench editor_first_frame_ms: ${median(times).toFixed(0)} ms`);
} finally {
  await browser.close();
  await app.dispose();
}
