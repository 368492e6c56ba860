// ProEditor's media and export in real headless Chromium, against the assets and jobs APIs
// (POST /v1/orgs/{org}/assets, GET …/assets, /v1/assets/{id}/content|thumbnail,
// POST /v1/projects/{id}/renders, GET /v1/jobs/{id}): upload an image with a progress bar, find
// it by search, drag it onto the timeline, see it in the preview, and render a still through
// the export dialog, then download it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GOOD_PASSWORD, startApp, uniqueEmail } from "./harness.mjs";
import { canonical, wasmEditor } from "./support/room-client.mjs";
import { clipsOf, decodePng, editorState, encodePng, launchBrowser, settled, signUpInPage, watchPage } from "./support/browser.mjs";

let app;
let browser;
let context;
let page;
let problems;
let projectId;
let assetId;
const creator = { name: "Mina Motion", email: uniqueEmail("mina"), password: GOOD_PASSWORD };
// A 160×90 image: red left half, blue right half (opaque), easy to recognise in any render.
const WIDTH = 160;
const HEIGHT = 90;
const RED = [220, 30, 40, 255];
const BLUE = [20, 60, 230, 255];

before(async () => {
  app = await startApp();
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  problems = watchPage(page, "page");
});

after(async () => {
  await browser?.close();
  await app?.dispose();
});

async function serverState() {
  const res = await context.request.get(`${app.base}/v1/projects/${projectId}`);
  assert.equal(res.status(), 200);
  return res.json();
}

test("upload an image by the media panel, with progress, and find it by search", async () => {
  await signUpInPage(page, app.base, creator);
  await page.getByRole("button", { name: "+ New project" }).click();
  await page.getByLabel("Name").fill("Poster");
  await page.getByLabel("Format").selectOption({ label: "720p landscape (1280×720)" });
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/app\/projects\/prj_/);
  projectId = page.url().match(/prj_[0-9A-Z]+/)[0];
  await page.locator(".status-pill.live").waitFor();

  const png = await encodePng(WIDTH, HEIGHT, (x) => (x < WIDTH / 2 ? RED : BLUE));
  await page.getByRole("tab", { name: "Media" }).click();
  await page.getByLabel("Choose files to upload").setInputFiles({ name: "red-blue-card.png", mimeType: "image/png", buffer: png });
  // The upload's outcome: a success notice, or the failure in words (shown in the uploads list).
  await page.locator(".toast.success, .upload.failed").first().waitFor({ timeout: 20000 });
  const failed = await page.locator(".upload.failed").allTextContents();
  assert.deepEqual(failed, [], "the upload succeeded");
  await page.locator(".toast.success", { hasText: "red-blue-card.png uploaded" }).waitFor();
  const item = page.locator(".asset", { hasText: "red-blue-card.png" });
  await item.waitFor();
  assetId = await item.getAttribute("data-asset-id");
  assert.match(assetId, /^ast_/);

  await page.getByLabel("Search media").fill("red-blue");
  await page.locator(`.asset[data-asset-id="${assetId}"]`).waitFor();
  await page.getByLabel("Search media").fill("no-such-media-anywhere");
  await page.locator(".asset").first().waitFor({ state: "detached" });
  await page.getByLabel("Search media").fill("");
  await page.locator(`.asset[data-asset-id="${assetId}"]`).waitFor();
  // Its thumbnail appears once the thumbnail job has made it.
  await page.waitForFunction((id) => {
    const img = document.querySelector(`.asset[data-asset-id="${id}"] img`);
    return img && img.complete && img.naturalWidth > 0;
  }, assetId, { timeout: 30000 });
});

test("drag the image onto the timeline: an image clip referencing the asset, shown in the preview", async () => {
  assert.ok(assetId, "the image was uploaded");
  const lane = page.locator(".timeline");
  await page.locator(`.asset[data-asset-id="${assetId}"]`).dragTo(lane, { targetPosition: { x: 260, y: 60 } });
  await settled(page);
  const server = await serverState();
  const mine = await editorState(page);
  // Through the engine: the server's JSON widens f32 fields to f64.
  const normalized = (t) => canonical(wasmEditor().fromJson(JSON.stringify(t)).timelineJson());
  assert.equal(normalized(mine.timeline), normalized(server.timeline));
  const clips = [...clipsOf(server.timeline).values()];
  assert.equal(clips.length, 1);
  assert.deepEqual(
    { type: clips[0].source.type, asset_id: clips[0].source.asset_id, width: clips[0].source.width, height: clips[0].source.height },
    { type: "image", asset_id: assetId, width: WIDTH, height: HEIGHT },
  );

  // The preview decodes the asset in wasm and draws it: left of centre red, right of centre blue.
  await page.getByLabel("Preview resolution").selectOption("1");
  await page.evaluate((f) => window.proeditor.seek(f), clips[0].start);
  await page.waitForFunction(() => {
    const c = window.proeditor.canvas;
    const px = c.getContext("2d").getImageData(c.width / 2 - 40, c.height / 2, 1, 1).data;
    return px[0] > 200 && px[2] < 60;
  }, null, { timeout: 15000 });
  const [left, right] = await page.evaluate(() => {
    const c = window.proeditor.canvas;
    const ctx = c.getContext("2d");
    return [Array.from(ctx.getImageData(c.width / 2 - 40, c.height / 2, 1, 1).data), Array.from(ctx.getImageData(c.width / 2 + 40, c.height / 2, 1, 1).data)];
  });
  assert.deepEqual(left, RED);
  assert.deepEqual(right, BLUE);
});

test("render a still through the export dialog with live progress, then download it", async () => {
  const server = await serverState();
  const clip = [...clipsOf(server.timeline).values()][0];
  assert.ok(clip, "the image is on the timeline");
  await page.evaluate((f) => window.proeditor.seek(f), clip.start + 1);
  await page.getByRole("button", { name: "Export" }).click();
  await page.getByLabel("Format").selectOption("still");
  await page.getByRole("button", { name: "Start export" }).click();
  await page.getByLabel("Export progress").waitFor();
  const download = page.getByRole("link", { name: "Download" });
  await download.waitFor({ timeout: 60000 });
  const href = await download.getAttribute("href");
  assert.match(href, /^\/v1\/assets\/ast_[0-9A-Z]+\/content$/);
  assert.equal(await page.getByLabel("Export progress").evaluate((bar) => bar.value), 100);
  const res = await context.request.get(app.base + href);
  assert.equal(res.status(), 200);
  const still = decodePng(await res.body());
  assert.equal(still.width, 1280);
  assert.equal(still.height, 720);
  const at = (x, y) => Array.from(still.data.subarray((y * still.width + x) * 4, (y * still.width + x) * 4 + 4));
  assert.deepEqual(at(640 - 40, 360), RED);
  assert.deepEqual(at(640 + 40, 360), BLUE);
  assert.deepEqual(problems, []);
});
