// ProEditor in real headless Chromium against the real Worker in local workerd: sign-up and
// projects through the page, editing by mouse and keyboard on the timeline, keyframes, undo and
// redo through the room, two people editing one project at once, pixel-exact preview against
// the edge renderer, follow mode, and resuming after the socket drops.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GOOD_PASSWORD, startApp, uniqueEmail } from "./harness.mjs";
import { canonical, connect, wasmEditor } from "./support/room-client.mjs";
import { clipsOf, decodePng, drag, editorState, launchBrowser, settled, signInInPage, signUpInPage, watchPage } from "./support/browser.mjs";

let app;
let browser;
let contextA;
let contextB;
let pageA;
let pageB;
const problems = [];
const alice = { name: "Alice Editor", email: uniqueEmail("alice"), password: GOOD_PASSWORD };
const bob = { name: "Bob Colorist", email: uniqueEmail("bob"), password: GOOD_PASSWORD };
let projectId;
let orgId;

before(async () => {
  app = await startApp();
  browser = await launchBrowser();
  contextA = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  contextB = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  pageA = await contextA.newPage();
  pageB = await contextB.newPage();
  const a = watchPage(pageA, "A");
  const b = watchPage(pageB, "B");
  Object.defineProperty(problems, "all", { get: () => [...a, ...b] });
});

after(async () => {
  await browser?.close();
  await app?.dispose();
});

/** The server's view of the project, with the page's session cookie. */
async function serverState(context = contextA) {
  const res = await context.request.get(`${app.base}/v1/projects/${projectId}`);
  assert.equal(res.status(), 200);
  return res.json();
}

/**
 * A timeline in editor-core's own serialisation: the server's JSON widens f32 fields to f64
 * (21.6 → 21.600000381469727) while the engine prints them short; loading both through the
 * engine compares the timelines themselves.
 */
function normalized(timeline) {
  const editor = wasmEditor().fromJson(JSON.stringify(timeline));
  try {
    return canonical(editor.timelineJson());
  } finally {
    editor.free();
  }
}

/** Waits until the page has nothing in flight and shows exactly the server's timeline. */
async function inStep(page, context) {
  await settled(page);
  const deadline = Date.now() + 10000;
  for (;;) {
    const [mine, server] = await Promise.all([editorState(page), serverState(context)]);
    if (mine.seq === server.seq) {
      assert.equal(normalized(mine.timeline), normalized(server.timeline), "the page shows the server's timeline");
      return server;
    }
    if (Date.now() > deadline) assert.fail(`page at seq ${mine.seq}, server at ${server.seq}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function clipBox(page, clipId) {
  const box = await page.locator(`.tl-clip[data-clip-id="${clipId}"]`).boundingBox();
  assert.ok(box, `clip ${clipId} is on screen`);
  return box;
}

test("the app and its engine are served with the right types; the API stays JSON", async () => {
  const html = await app.fetch("/", { headers: { "sec-fetch-mode": "navigate", accept: "text/html" } });
  assert.equal(html.status, 200);
  assert.match(html.headers.get("content-type"), /text\/html/);
  assert.match(await html.text(), /<script type="module" src="\/js\/app.js">/);
  const deep = await app.fetch("/app/projects/prj_01JD0000000000000000000000", { headers: { "sec-fetch-mode": "navigate", accept: "text/html" } });
  assert.equal(deep.status, 200, "a deep link into the app serves the page");
  assert.match(deep.headers.get("content-type"), /text\/html/);
  const wasm = await app.fetch("/pkg/editor_core_wasm_bg.wasm");
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  assert.deepEqual([...new Uint8Array(await wasm.arrayBuffer()).subarray(0, 4)], [0, 0x61, 0x73, 0x6d]);
  for (const path of ["/js/app.js", "/js/editor/editor.js", "/pkg/editor_core_wasm.js"]) {
    const res = await app.fetch(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type"), /javascript/, path);
    await res.arrayBuffer();
  }
  const css = await app.fetch("/css/app.css");
  assert.match(css.headers.get("content-type"), /text\/css/);
  await css.arrayBuffer();
  // The API is never answered by the page, even for a browser navigation; nor is any path
  // outside the app's own.
  for (const path of ["/v1/nothing-here", "/health", "/appx", "/pkgs/x.js"]) {
    const api = await app.fetch(path, { headers: { "sec-fetch-mode": "navigate", accept: "text/html" } });
    assert.equal(api.status, 404, path);
    assert.equal((await api.json()).error.code, "route_not_found", path);
  }
  const invite = await app.fetch("/app/invite/some-token", { headers: { "sec-fetch-mode": "navigate", accept: "text/html" } });
  assert.equal(invite.status, 200);
  assert.match(await invite.text(), /ProEditor/);
  const health = await app.fetch("/v1/health", { headers: { "sec-fetch-mode": "navigate" } });
  assert.equal(health.status, 200);
  assert.match(health.headers.get("content-type"), /json/);
  await health.arrayBuffer();
});

test("sign up, create a project and add a colour, a title and a shape", async () => {
  await signUpInPage(pageA, app.base, alice);
  const cookies = await contextA.cookies();
  assert.ok(cookies.some((c) => c.name === "__Host-cos_session" && c.httpOnly), "the session is an HttpOnly __Host- cookie");
  const me = await (await contextA.request.get(`${app.base}/v1/me`)).json();
  orgId = me.memberships[0].org.id;

  await pageA.getByRole("button", { name: "+ New project" }).click();
  await pageA.getByLabel("Name").fill("Launch teaser");
  await pageA.getByLabel("Format").selectOption({ label: "720p landscape (1280×720)" });
  await pageA.getByRole("button", { name: "Create project" }).click();
  await pageA.waitForURL(/\/app\/projects\/prj_/);
  projectId = pageA.url().match(/prj_[0-9A-Z]+/)[0];
  await pageA.locator(".status-pill.live").waitFor();

  await pageA.locator('[data-create="colour"]').click();
  await pageA.locator('[data-create="title"]').click();
  await pageA.locator('[data-create="rectangle"]').click();
  const server = await inStep(pageA, contextA);
  const clips = [...clipsOf(server.timeline).values()];
  assert.deepEqual(clips.map((c) => c.source.type).sort(), ["shape", "solid", "text"]);
  assert.equal(server.timeline.tracks.length, 3, "a video, a text and an overlay track were made as needed");
  for (const clip of clips) assert.equal(await pageA.locator(`.tl-clip[data-clip-id="${clip.id}"]`).count(), 1);
  // The dashboard lists it.
  const list = await (await contextA.request.get(`${app.base}/v1/orgs/${orgId}/projects`)).json();
  assert.equal(list.items[0].name, "Launch teaser");
});

test("move a clip across time and tracks and trim it by dragging on the timeline", async () => {
  let server = await serverState();
  const shape = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "shape");
  const solid = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "solid");
  // Snapping would pull the drop onto nearby edges; this test checks exact arithmetic.
  await pageA.getByRole("button", { name: /Snap/ }).click();
  // Fits the whole edit into view and answers the timeline's scale in pixels per frame.
  const fit = async () => {
    await pageA.getByRole("button", { name: "Fit" }).click();
    return pageA.evaluate(() => window.proeditor.timelinePanel.pxPerFrame);
  };
  let ppf = await fit();

  // Move the shape 40 frames later on its own track.
  let box = await clipBox(pageA, shape.id);
  const from = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  await drag(pageA, from, { x: from.x + 40 * ppf, y: from.y });
  server = await inStep(pageA, contextA);
  let moved = clipsOf(server.timeline).get(shape.id);
  assert.equal(moved.start, shape.start + 40);
  assert.equal(moved.track_id, shape.track_id);

  // Trim its end 20 frames shorter by the right edge.
  ppf = await fit();
  box = await clipBox(pageA, shape.id);
  const edge = { x: box.x + box.width - 3, y: box.y + box.height / 2 };
  await drag(pageA, edge, { x: edge.x - 20 * ppf, y: edge.y });
  server = await inStep(pageA, contextA);
  moved = clipsOf(server.timeline).get(shape.id);
  assert.equal(moved.duration, shape.duration - 20);
  assert.equal(moved.start, shape.start + 40, "a trim of the end keeps the start");

  // Trim its start 10 frames later by the left edge.
  ppf = await fit();
  box = await clipBox(pageA, shape.id);
  const head = { x: box.x + 3, y: box.y + box.height / 2 };
  await drag(pageA, head, { x: head.x + 10 * ppf, y: head.y });
  server = await inStep(pageA, contextA);
  moved = clipsOf(server.timeline).get(shape.id);
  assert.equal(moved.start, shape.start + 50);
  assert.equal(moved.duration, shape.duration - 30);

  // Drag the shape down onto the video track (where the solid is), after the solid.
  ppf = await fit();
  const solidBox = await clipBox(pageA, solid.id);
  box = await clipBox(pageA, shape.id);
  const grab = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const dx = (solid.start + solid.duration + 5 - moved.start) * ppf;
  await drag(pageA, grab, { x: grab.x + dx, y: solidBox.y + solidBox.height / 2 });
  server = await inStep(pageA, contextA);
  const across = clipsOf(server.timeline).get(shape.id);
  assert.equal(across.track_id, solid.track_id, "the clip moved to the other track");
  assert.equal(across.start, solid.start + solid.duration + 5);
  await pageA.getByRole("button", { name: /Snap/ }).click();
});

test("split, duplicate and delete with the keyboard, then undo and redo through the room", async () => {
  let server = await serverState();
  const solid = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "solid");
  await pageA.locator(`.tl-clip[data-clip-id="${solid.id}"]`).click();
  await pageA.evaluate((f) => window.proeditor.seek(f), solid.start + 30);
  await pageA.keyboard.press("s");
  server = await inStep(pageA, contextA);
  const afterSplit = [...clipsOf(server.timeline).values()].filter((c) => c.source.type === "solid");
  assert.equal(afterSplit.length, 2, "S splits the selected clip at the playhead");
  assert.equal(clipsOf(server.timeline).get(solid.id).duration, 30);

  await pageA.keyboard.press("Control+z");
  server = await inStep(pageA, contextA);
  assert.equal([...clipsOf(server.timeline).values()].filter((c) => c.source.type === "solid").length, 1, "Ctrl-Z undoes the split");
  await pageA.keyboard.press("Control+Shift+z");
  server = await inStep(pageA, contextA);
  assert.equal([...clipsOf(server.timeline).values()].filter((c) => c.source.type === "solid").length, 2, "Shift-Ctrl-Z redoes it");
  await pageA.keyboard.press("Control+z");
  server = await inStep(pageA, contextA);

  // Delete removes the selection; undo restores it.
  const before = clipsOf(server.timeline).size;
  await pageA.locator(`.tl-clip[data-clip-id="${solid.id}"]`).click();
  await pageA.keyboard.press("Delete");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).size, before - 1);
  await pageA.getByRole("button", { name: "Undo", exact: true }).click();
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).size, before);
  assert.ok(clipsOf(server.timeline).has(solid.id));
});

test("add a keyframe at the playhead, choose its easing, undo and redo it", async () => {
  let server = await serverState();
  const title = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "text");
  await pageA.locator(`.tl-clip[data-clip-id="${title.id}"]`).click();
  await pageA.evaluate((f) => window.proeditor.seek(f), title.start + 12);
  await pageA.getByRole("button", { name: "Add Opacity keyframe at the playhead" }).click();
  server = await inStep(pageA, contextA);
  let opacity = clipsOf(server.timeline).get(title.id).opacity;
  assert.equal(opacity.keyframes.length, 1);
  assert.equal(opacity.keyframes[0].frame, 12, "the keyframe is at the playhead, relative to the clip");

  // A second keyframe later with another value, by typing in the field at another frame.
  await pageA.evaluate((f) => window.proeditor.seek(f), title.start + 48);
  await pageA.getByLabel("Opacity", { exact: true }).fill("0.25");
  await pageA.getByLabel("Opacity", { exact: true }).press("Tab");
  server = await inStep(pageA, contextA);
  opacity = clipsOf(server.timeline).get(title.id).opacity;
  assert.deepEqual(opacity.keyframes.map((k) => [k.frame, k.value]), [[12, 1], [48, 0.25]]);

  await pageA.getByLabel("Opacity keyframe easing").first().selectOption("ease_in_out");
  server = await inStep(pageA, contextA);
  assert.deepEqual(clipsOf(server.timeline).get(title.id).opacity.keyframes[0].easing, { type: "ease_in_out" });

  await pageA.evaluate(() => document.activeElement?.blur());
  await pageA.keyboard.press("Control+z");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).get(title.id).opacity.keyframes[0].easing?.type ?? "linear", "linear", "undo restores the easing");
  await pageA.keyboard.press("Control+z");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).get(title.id).opacity.keyframes?.length ?? 0, 1, "undo removes the second keyframe");
  await pageA.keyboard.press("Control+Shift+z");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).get(title.id).opacity.keyframes.length, 2, "redo brings it back");

  // Drag the second keyframe's diamond on the timeline 8 frames earlier.
  await pageA.getByRole("button", { name: "Fit" }).click();
  const ppf = await pageA.evaluate(() => window.proeditor.timelinePanel.pxPerFrame);
  const diamond = await pageA.locator(`.tl-clip[data-clip-id="${title.id}"] .tl-key[data-frame="48"]`).boundingBox();
  const from = { x: diamond.x + diamond.width / 2, y: diamond.y + diamond.height / 2 };
  await drag(pageA, from, { x: from.x - 8 * ppf, y: from.y });
  server = await inStep(pageA, contextA);
  assert.deepEqual(clipsOf(server.timeline).get(title.id).opacity.keyframes.map((k) => [k.frame, k.value]), [[12, 1], [40, 0.25]]);
});

test("a transition and an effect from the inspector, undone step by step", async () => {
  let server = await serverState();
  const solid = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "solid");
  await pageA.locator(`.tl-clip[data-clip-id="${solid.id}"]`).click();
  await pageA.evaluate((f) => window.proeditor.seek(f), solid.start + 30);
  await pageA.keyboard.press("s");
  await inStep(pageA, contextA);
  await pageA.locator(`.tl-clip[data-clip-id="${solid.id}"]`).click();
  await pageA.getByLabel("Transition into the next clip").selectOption("crossfade");
  server = await inStep(pageA, contextA);
  assert.deepEqual(clipsOf(server.timeline).get(solid.id).transition, { kind: { type: "crossfade" }, duration: 15, easing: { type: "linear" } });
  await pageA.locator(`.tl-clip[data-clip-id="${solid.id}"] .tl-transition`).waitFor();

  await pageA.getByLabel("Add an effect").selectOption("gaussian_blur");
  server = await inStep(pageA, contextA);
  const effects = clipsOf(server.timeline).get(solid.id).effects;
  assert.equal(effects.length, 1);
  assert.equal(effects[0].kind.type, "gaussian_blur");
  await pageA.getByLabel("gaussian_blur radius").fill("3");
  await pageA.getByLabel("gaussian_blur radius").press("Tab");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).get(solid.id).effects[0].kind.radius, 3);

  await pageA.evaluate(() => document.activeElement?.blur());
  for (let i = 0; i < 4; i++) await pageA.keyboard.press("Control+z");
  server = await inStep(pageA, contextA);
  const restored = clipsOf(server.timeline).get(solid.id);
  assert.equal(restored.duration, solid.duration, "the split is undone");
  assert.equal(restored.transition, undefined);
  assert.equal(restored.effects, undefined);
});

test("copy and paste at the playhead, and nudge with Alt-arrows", async () => {
  let server = await serverState();
  const title = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "text");
  await pageA.locator(`.tl-clip[data-clip-id="${title.id}"]`).click();
  await pageA.keyboard.press("Control+c");
  await pageA.evaluate(() => window.proeditor.seek(2000));
  await pageA.keyboard.press("Control+v");
  server = await inStep(pageA, contextA);
  const pasted = [...clipsOf(server.timeline).values()].find((c) => c.start === 2000);
  assert.ok(pasted, "a copy starts at the playhead");
  assert.equal(pasted.track_id, title.track_id);
  assert.deepEqual(pasted.source, title.source);
  assert.deepEqual(await pageA.evaluate(() => [...window.proeditor.selection]), [pasted.id], "the copy is selected");
  await pageA.keyboard.press("Alt+ArrowRight");
  await pageA.keyboard.press("Shift+Alt+ArrowRight");
  server = await inStep(pageA, contextA);
  assert.equal(clipsOf(server.timeline).get(pasted.id).start, 2011);
  await pageA.keyboard.press("Delete");
  server = await inStep(pageA, contextA);
  assert.ok(!clipsOf(server.timeline).has(pasted.id));
});

test("a box dragged over the timeline selects clips; a click on empty space clears and seeks", async () => {
  const server = await serverState();
  const clips = [...clipsOf(server.timeline).values()];
  const title = clips.find((c) => c.source.type === "text");
  const ppf = await (async () => {
    await pageA.getByRole("button", { name: "Fit" }).click();
    return pageA.evaluate(() => window.proeditor.timelinePanel.pxPerFrame);
  })();
  const titleBox = await clipBox(pageA, title.id);
  const videoTrack = server.timeline.tracks.find((t) => t.kind === "video");
  const videoRow = await pageA.locator(`.tl-lane[data-track-id="${videoTrack.id}"]`).boundingBox();
  const start = { x: titleBox.x + titleBox.width + 20 * ppf, y: titleBox.y + titleBox.height / 2 };
  const end = { x: titleBox.x + titleBox.width - 10 * ppf, y: videoRow.y + videoRow.height / 2 };
  await drag(pageA, start, end);
  const selected = await pageA.evaluate(() => [...window.proeditor.selection]);
  assert.ok(selected.includes(title.id), "the title is in the box");
  assert.ok(selected.some((id) => videoTrack.clips.some((c) => c.id === id)), "so is a clip of the video track");
  assert.equal(await pageA.locator(".tl-clip.selected").count(), selected.length);

  await pageA.mouse.click(start.x, start.y);
  assert.deepEqual(await pageA.evaluate(() => [...window.proeditor.selection]), []);
  const expected = await pageA.evaluate((x) => window.proeditor.timelinePanel.frameAtClientX(x), start.x);
  assert.equal(await pageA.evaluate(() => window.proeditor.playhead), expected);
});

test("the preview's pixels equal the edge renderer's frame.png exactly", async () => {
  const server = await inStep(pageA, contextA);
  await pageA.getByLabel("Preview resolution").selectOption("1");
  for (const frame of [0, 40, 100]) {
    await pageA.evaluate((f) => { window.proeditor.pause(); window.proeditor.seek(f); window.proeditor.renderNow(); }, frame);
    const canvas = await pageA.evaluate(() => {
      const c = window.proeditor.canvas;
      const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      return { width: c.width, height: c.height, base64: btoa(Array.from(data, (b) => String.fromCharCode(b)).join("")) };
    });
    const png = await contextA.request.get(`${app.base}/v1/projects/${projectId}/frame.png?frame=${frame}`);
    assert.equal(png.status(), 200);
    assert.equal(Number(png.headers()["x-project-seq"]), server.seq, "both render the same version");
    const decoded = decodePng(await png.body());
    assert.equal(canvas.width, decoded.width);
    assert.equal(canvas.height, decoded.height);
    const pixels = Buffer.from(canvas.base64, "base64");
    let differing = 0;
    for (let i = 0; i < pixels.length; i++) if (pixels[i] !== decoded.data[i]) differing += 1;
    // Exact: every pixel of these frames is opaque, so the canvas's premultiplied storage
    // round-trips the straight RGBA bytes, and no colour management applies to putImageData.
    assert.equal(differing, 0, `frame ${frame}: ${differing} bytes differ`);
  }
});

test("playback runs at the project's rate with a frame readout; K stops; preview resolution switches", async () => {
  await pageA.evaluate(() => { window.proeditor.seek(0); document.activeElement?.blur(); });
  await pageA.keyboard.press("Space");
  await pageA.waitForTimeout(1000);
  const state = await pageA.evaluate(() => ({ playing: window.proeditor.playing, playhead: window.proeditor.playhead, duration: window.proeditor.duration(), readout: document.querySelector(".fps-readout").textContent, focus: document.activeElement?.outerHTML.slice(0, 80) }));
  assert.equal(state.playing, true, JSON.stringify(state));
  assert.ok(state.playhead > 15, JSON.stringify(state));
  // While playing, the readout shows frames drawn in the last second against the project rate.
  assert.match(state.readout, /^[1-9]\d* \/ 30 fps$/);
  await pageA.keyboard.press("k");
  const stopped = await pageA.evaluate(() => window.proeditor.playhead);
  await pageA.waitForTimeout(300);
  assert.equal(await pageA.evaluate(() => window.proeditor.playhead), stopped);
  assert.equal(await pageA.evaluate(() => window.proeditor.playing), false);
  for (const [value, width] of [["0.5", 640], ["0.25", 320], ["1", 1280]]) {
    await pageA.getByLabel("Preview resolution").selectOption(value);
    assert.equal(await pageA.evaluate(() => window.proeditor.canvas.width), width);
  }
});

test("a teammate joins by invitation; two people edit at once and converge on the server's timeline", async () => {
  // Alice invites Bob from the dashboard.
  await pageA.goto(`${app.base}/`);
  await pageA.getByLabel("Email to invite").fill(bob.email);
  await pageA.getByLabel("Role").selectOption("editor");
  await pageA.getByRole("button", { name: "Invite" }).click();
  const link = await pageA.getByLabel("Invitation link").inputValue();
  assert.match(link, /\/app\/invite\//);
  await pageA.locator(".invitation", { hasText: bob.email.toLowerCase() }).waitFor();

  // Bob signs up, opens the link, and lands in Alice's workspace.
  await signUpInPage(pageB, app.base, bob);
  await pageB.goto(link);
  await pageB.getByRole("heading", { name: "Projects" }).waitFor();
  await pageB.getByLabel("Workspace").selectOption(orgId);
  await pageB.locator(`.project-card[data-project-id="${projectId}"] a.title`).click();
  await pageB.locator(".status-pill.live").waitFor();
  for (const page of [pageA, pageB]) {
    await page.goto(`${app.base}/app/projects/${projectId}`);
    await page.locator(".status-pill.live").waitFor();
  }
  await pageA.locator(`.avatar.member[data-actor-id]:not(.self)`).waitFor();

  // Both edit at the same moment (in different parts of the edit, so that no edit conflicts):
  // Alice adds clips around 10 s, Bob adds clips around 30 s and trims the first clip.
  const server0 = await serverState();
  const solid = [...clipsOf(server0.timeline).values()].find((c) => c.source.type === "solid");
  await Promise.all([
    (async () => {
      await pageA.evaluate(() => window.proeditor.seek(300));
      await pageA.locator('[data-create="ellipse"]').click();
      await pageA.locator('[data-create="colour"]').click();
    })(),
    (async () => {
      await pageB.evaluate(() => window.proeditor.seek(900));
      await pageB.locator('[data-create="caption"]').click();
      await pageB.evaluate(([id, end]) => window.proeditor.edit({ type: "trim_clip", clip_id: id, edge: "end", frame: end }), [solid.id, solid.start + 100]);
      await pageB.locator('[data-create="gradient"]').click();
    })(),
  ]);
  const a = await inStep(pageA, contextA);
  const b = await inStep(pageB, contextB);
  assert.equal(a.seq, b.seq);
  assert.equal(normalized(a.timeline), normalized(b.timeline));
  const clips = [...clipsOf(a.timeline).values()];
  const toasts = [...(await pageA.locator(".toast").allTextContents()), ...(await pageB.locator(".toast").allTextContents())];
  for (const kind of ["ellipse", "rounded_rect"]) assert.ok(clips.some((c) => c.source.shape?.type === kind), `${kind}: ${JSON.stringify(clips.map((c) => [c.name, c.start]))} ${toasts}`);
  assert.ok(clips.some((c) => c.name === "Caption" && c.start === 900), toasts);
  assert.ok(clips.some((c) => c.source.type === "linear_gradient" && c.start === 900), toasts);
  assert.equal(clipsOf(a.timeline).get(solid.id).duration, 100, "Bob's trim");
  // Each sees the other in the room.
  assert.equal(await pageB.locator(".avatar.member").count(), 2);
  assert.deepEqual(problems.all, []);
});

test("follow mode: the follower's playhead goes where the followed member's goes", async () => {
  const aliceActor = await pageA.evaluate(() => window.proeditor.session.you.actor.id);
  await pageB.locator(`.avatar.member[data-actor-id="${aliceActor}"]`).click();
  await pageB.locator(`.avatar.member.following[data-actor-id="${aliceActor}"]`).waitFor();
  for (const frame of [77, 150]) {
    await pageA.evaluate((f) => window.proeditor.seek(f), frame);
    await pageB.waitForFunction((f) => window.proeditor.playhead === f, frame, { timeout: 5000 });
  }
  // Alice's pointer over the preview shows on Bob's preview, with her name.
  const canvasBox = await pageA.locator(".preview-canvas").boundingBox();
  await pageA.mouse.move(canvasBox.x + canvasBox.width * 0.25, canvasBox.y + canvasBox.height * 0.5);
  await pageB.locator(".remote-cursor", { hasText: alice.name }).waitFor();
  // Alice's playhead is drawn on Bob's timeline too.
  const remote = await pageB.locator(".tl-remote-playhead").first().getAttribute("style");
  assert.ok(remote.includes("left"), remote);
  // Stop following: Alice's moves no longer move Bob.
  await pageB.locator(`.avatar.member[data-actor-id="${aliceActor}"]`).click();
  await pageB.locator(`.avatar.member.following`).waitFor({ state: "detached" });
  await pageA.evaluate(() => window.proeditor.seek(10));
  await pageA.waitForTimeout(600);
  assert.equal(await pageB.evaluate(() => window.proeditor.playhead), 150);
});

test("after the socket drops the editor reconnects, resumes from its seq and catches up", async () => {
  const before = await pageA.evaluate(() => ({ connects: window.proeditor.session.connects, seq: window.proeditor.session.seq }));
  // Alice's network goes away and her socket drops; Bob keeps editing meanwhile.
  await contextA.setOffline(true);
  await pageA.evaluate(() => window.proeditor.session.drop());
  await pageA.locator(".status-pill.offline, .status-pill.reconnecting").waitFor();
  await pageB.evaluate(() => window.proeditor.seek(600));
  await pageB.locator('[data-create="title"]').click();
  await settled(pageB);
  // Alice edits while offline: it shows at once and waits to be sent.
  await pageA.evaluate(() => window.proeditor.seek(1500));
  await pageA.locator('[data-create="ellipse"]').click();
  assert.equal(await pageA.evaluate(() => window.proeditor.session.pending.length), 1);
  await contextA.setOffline(false);
  const server = await inStep(pageA, contextA);
  const after = await pageA.evaluate(() => ({ connects: window.proeditor.session.connects, welcome: window.proeditor.session.lastWelcome }));
  assert.ok(after.connects > before.connects, "a new socket was opened");
  assert.equal(after.welcome.since, before.seq, "it resumed with ?since=<seq>");
  assert.equal(after.welcome.kind, "missed", "the room replayed the missed commands instead of a full timeline");
  const clips = [...clipsOf(server.timeline).values()];
  assert.ok(clips.some((c) => c.start === 600 && c.source.type === "text"), "Bob's edit made while Alice was away reached her");
  const toasts = await pageA.locator(".toast").allTextContents();
  assert.ok(clips.some((c) => c.start === 1500 && c.source.shape?.type === "ellipse"), `Alice's offline edit reached the server: ${JSON.stringify(clips.map((c) => [c.name, c.start, c.track_id]))} ${toasts}`);
  await inStep(pageB, contextB);
  assert.deepEqual(problems.all, []);
});

test("a refused edit is explained, rebased away, and leaves the editor in step", async () => {
  const server = await serverState();
  const clips = [...clipsOf(server.timeline).values()];
  const solid = clips.find((c) => c.source.type === "solid");
  // A colour cannot go on a text track: the engine refuses it locally and nothing is sent.
  const text = clips.find((c) => c.source.type === "text");
  const seq = await pageA.evaluate(() => window.proeditor.session.seq);
  const ok = await pageA.evaluate(([id, track]) => window.proeditor.edit({ type: "move_clip", clip_id: id, start: 5000, track_id: track }), [solid.id, text.track_id]);
  assert.equal(ok, false);
  await pageA.locator(".toast.error", { hasText: "can't go on this track" }).first().waitFor();
  assert.equal((await serverState()).seq, seq, "nothing was sent");

  // Alice's socket is slow: Bob's removal of the solid reaches her only after she moved it.
  await pageA.evaluate(() => {
    const ws = window.proeditor.session.ws;
    const deliver = ws.onmessage;
    const held = [];
    ws.onmessage = (event) => held.push(event);
    window.releaseHeldFrames = () => {
      ws.onmessage = deliver;
      for (const event of held) deliver(event);
    };
  });
  await pageB.evaluate((id) => window.proeditor.edit({ type: "remove_clip", clip_id: id }), solid.id);
  await settled(pageB);
  const moved = await pageA.evaluate((id) => window.proeditor.edit({ type: "move_clip", clip_id: id, start: 4000 }), solid.id);
  assert.equal(moved, true, "applied optimistically on Alice's stale view");
  await pageA.waitForTimeout(500);
  await pageA.evaluate(() => window.releaseHeldFrames());
  await pageA.locator(".toast.error", { hasText: "removed by someone else" }).first().waitFor();
  const after = await inStep(pageA, contextA);
  assert.ok(!clipsOf(after.timeline).has(solid.id), "the room's order wins: the clip is gone for Alice too");
  assert.deepEqual(problems.all, []);
});

test("a lost frame is noticed: the editor reloads the project from the room and stays in step", async () => {
  const before = await pageA.evaluate(() => window.proeditor.session.connects);
  // Alice's socket loses the next change Bob makes (as a buggy proxy might).
  await pageA.evaluate(() => {
    const ws = window.proeditor.session.ws;
    const deliver = ws.onmessage;
    let dropped = false;
    ws.onmessage = (event) => {
      if (!dropped && JSON.parse(event.data).type === "applied") {
        dropped = true;
        return;
      }
      deliver(event);
    };
  });
  await pageB.evaluate(() => window.proeditor.seek(3000));
  await pageB.locator('[data-create="colour"]').click();
  await settled(pageB);
  await pageB.evaluate(() => window.proeditor.seek(3300));
  await pageB.locator('[data-create="colour"]').click();
  await settled(pageB);
  // The second change shows a gap in the sequence: Alice resynchronises with a full timeline.
  await pageA.waitForFunction((n) => window.proeditor.session.connects > n && window.proeditor.session.status === "live", before);
  const after = await pageA.evaluate(() => window.proeditor.session.lastWelcome);
  assert.deepEqual(after, { since: null, kind: "timeline" });
  const server = await inStep(pageA, contextA);
  assert.equal([...clipsOf(server.timeline).values()].filter((c) => c.start === 3000 || c.start === 3300).length, 2);
  assert.deepEqual(problems.all, []);
});

test("comments pinned to a clip and a frame: a thread, a reply from the other editor, resolved", async () => {
  const server = await serverState();
  const title = [...clipsOf(server.timeline).values()].find((c) => c.source.type === "text");
  await pageA.locator(`.tl-clip[data-clip-id="${title.id}"]`).click();
  await pageA.evaluate((f) => window.proeditor.seek(f), title.start + 5);
  await pageA.getByRole("button", { name: "Comment", exact: true }).click();
  await pageA.getByLabel("Comment", { exact: true }).fill("Can the title come in a little later?");
  await pageA.getByRole("dialog").getByRole("button", { name: "Comment" }).click();
  const thread = pageA.locator(".thread", { hasText: "Can the title come in a little later?" });
  await thread.waitFor();
  const threadId = await thread.getAttribute("data-thread-id");

  // Bob sees it live, with its anchor, and replies.
  await pageB.getByRole("tab", { name: "Comments" }).click();
  const seen = pageB.locator(`.thread[data-thread-id="${threadId}"]`);
  await seen.waitFor();
  assert.match(await seen.locator(".anchor").textContent(), /Title/);
  await seen.getByLabel("Reply").fill("Moved it to 00:00:01:00 — better?");
  await seen.getByLabel("Reply").press("Enter");
  await pageA.locator(`.thread[data-thread-id="${threadId}"] .comment`, { hasText: "better?" }).waitFor();

  // Alice resolves it: it leaves the open list for both and is stored resolved.
  await pageA.locator(`.thread[data-thread-id="${threadId}"]`).getByRole("button", { name: "✓ Resolve" }).click();
  await seen.waitFor({ state: "detached" });
  const threads = await (await contextA.request.get(`${app.base}/v1/projects/${projectId}/threads`)).json();
  const stored = threads.items.find((t) => t.id === threadId);
  assert.equal(stored.resolved, true);
  assert.equal(stored.anchor.clip_id, title.id);
  assert.equal(stored.anchor.from_frame, title.start + 5);
  assert.deepEqual(stored.comments.map((c) => c.author.name), [alice.name, bob.name]);
  assert.deepEqual(problems.all, []);
});

test("the dashboard renames, duplicates and deletes projects, and makes a new workspace", async () => {
  await pageA.goto(`${app.base}/`);
  const card = pageA.locator(`.project-card[data-project-id="${projectId}"]`);
  await card.getByRole("button", { name: "Rename" }).click();
  await pageA.getByLabel("Project name").fill("Launch teaser v2");
  await pageA.getByRole("dialog").getByRole("button", { name: "Rename" }).click();
  await card.locator(".title", { hasText: "Launch teaser v2" }).waitFor();
  assert.equal((await serverState()).project.name, "Launch teaser v2");

  await card.getByRole("button", { name: "Duplicate" }).click();
  await pageA.locator(".project-card").nth(1).waitFor();
  const list = await (await contextA.request.get(`${app.base}/v1/orgs/${orgId}/projects`)).json();
  assert.equal(list.items.length, 2);
  const copy = list.items.find((p) => p.id !== projectId);
  const copyState = await (await contextA.request.get(`${app.base}/v1/projects/${copy.id}`)).json();
  assert.equal(canonical(copyState.timeline), canonical((await serverState()).timeline), "the copy has the same timeline");

  const copyCard = pageA.locator(`.project-card[data-project-id="${copy.id}"]`);
  await copyCard.getByRole("button", { name: "Delete" }).click();
  await pageA.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await copyCard.waitFor({ state: "detached" });
  assert.equal((await contextA.request.get(`${app.base}/v1/projects/${copy.id}`)).status(), 404);

  await pageA.getByLabel("Workspace").selectOption("__new");
  await pageA.getByLabel("Workspace name").fill("Studio North");
  await pageA.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  await pageA.locator(".toast.success", { hasText: "Studio North" }).waitFor();
  const selected = await pageA.getByLabel("Workspace").evaluate((s) => s.options[s.selectedIndex].textContent);
  assert.match(selected, /^Studio North/);
  await pageA.locator(".empty", { hasText: "No projects yet" }).waitFor();
  assert.deepEqual(problems.all, []);
});

test("an agent joining the room shows as an agent beside the people", async () => {
  for (const page of [pageA, pageB]) {
    await page.goto(`${app.base}/app/projects/${projectId}`);
    await page.locator(".status-pill.live").waitFor();
  }
  const created = await contextA.request.post(`${app.base}/v1/orgs/${orgId}/api-keys`, {
    data: { name: "Render bot", role: "editor" },
    headers: { origin: app.base },
  });
  assert.equal(created.status(), 201);
  const { api_key: key } = await created.json();
  const agent = await connect(app, projectId, { token: key.key, label: "agent" });
  try {
    const badge = pageA.locator(".avatar.member.agent", { has: pageA.locator(".icon-agent") });
    await badge.waitFor();
    assert.match(await badge.getAttribute("title"), /Render bot · agent/);
    // Its edits reach both editors like anyone's.
    const track = { id: "trk_01JD00000000000000000000A1", kind: "overlay", name: "Agent layer" };
    const answer = await agent.command({ type: "add_track", track });
    assert.equal(answer.type, "ack");
    await pageA.locator(`.tl-row[data-track-id="${track.id}"]`).waitFor();
    await pageB.locator(`.tl-row[data-track-id="${track.id}"]`).waitFor();
  } finally {
    await agent.close();
  }
  await badgeGone(pageA);
});

async function badgeGone(page) {
  await page.locator(".avatar.member.agent").waitFor({ state: "detached" });
}
