// Asset graph & storage through the real Worker in local workerd: uploads into R2 (single and
// multipart), typing by bytes, checksums, downloads with ranges and entity tags, signed links,
// search, thumbnails made by the queue job, near-duplicate search, lineage, deletion of
// sources with derivatives, bad input, and image clips rendered from uploaded assets.
// R2 is inspected through a second local runtime on the same state folder.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp } from "./harness.mjs";
import { addMember, createKey, withoutTouches } from "./identity-support.mjs";
import {
  checkerboard, decodePng, fakeMp4, GIF_1X1, picture, QUADRANT_COLORS, quadrants, sha256, wav,
} from "./support/assets-fixtures.mjs";

const { Miniflare } = await import("miniflare");

const MiB = 1024 * 1024;
/** Every plan is capped at this in these tests (ASSET_MAX_BYTES), so "too large" is cheap. */
const MAX_BYTES = 12 * MiB;
const SIGNING_KEY = "test-signing-key-0123456789abcdef";

let app;
let owner; // owner of orgId
let orgId;
let viewer; // a viewer of orgId
let editorKey; // an editor API key of orgId
let stranger; // owner of another org
let r2;

before(async () => {
  app = await startApp({ vars: { ASSET_SIGNING_KEY: SIGNING_KEY, ASSET_MAX_BYTES: String(MAX_BYTES) } });
  owner = await signup(app, "owner");
  orgId = owner.org.id;
  viewer = await addMember(app, owner.client, orgId, "viewer", "viewer");
  editorKey = await createKey(app, owner.client, orgId, "editor");
  stranger = await signup(app, "stranger");
});
after(async () => {
  await r2?.dispose();
  await app?.dispose();
});

/** The app's R2 bucket, read through a second local runtime on the same files. */
async function bucket() {
  r2 ??= new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    r2Buckets: { ASSETS: "creator-os-assets" },
    r2Persist: path.join(app.persist, "v3", "r2"),
  });
  return r2.getR2Bucket("ASSETS");
}

/** Every key in the bucket, sorted. */
async function r2Keys() {
  const b = await bucket();
  const keys = [];
  let cursor;
  do {
    const page = await b.list({ cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

/** Raw request with a bearer token. */
async function raw(client, method, p, body, headers = {}) {
  const res = await app.fetch(p, {
    method,
    headers: { authorization: `Bearer ${client.token}`, ...headers },
    body,
    redirect: "manual",
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, bytes, body: json, text: bytes.toString("utf8") };
}

/** Uploads bytes in one request; returns the response. */
function upload(bytes, { name = "file", kind, tags, client = owner.client, org = orgId, contentType = "application/octet-stream" } = {}) {
  const query = new URLSearchParams({ name });
  if (kind) query.set("kind", kind);
  if (tags) query.set("tags", tags);
  return raw(client, "POST", `/v1/orgs/${org}/assets?${query}`, bytes, { "content-type": contentType });
}

async function uploaded(bytes, options) {
  const res = await upload(bytes, options);
  assert.equal(res.status, 201, res.text);
  return res.body.asset;
}

/** Polls until the asset has a thumbnail (made by the queue consumer). */
async function thumbnailOf(assetId, client = owner.client) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await client.get(`/v1/assets/${assetId}`);
    assert.equal(res.status, 200, res.text);
    if (res.body.asset.thumbnail_asset_id && res.body.asset.phash) return res.body.asset;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`no thumbnail for ${assetId} within 60 s`);
}

/**
 * A query through the second runtime reading D1. It can fail with an "internal error" while
 * the Worker writes (queue jobs run concurrently with the tests): such a read is tried again.
 */
async function query(sql, ...params) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await app.query(sql, ...params);
    } catch (error) {
      if (attempt >= 30 || !/internal error/.test(error.message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Waits until every image uploaded so far has its thumbnail (queue jobs write to D1). */
async function thumbnailsSettled() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const [{ n }] = await query(
      "SELECT COUNT(*) AS n FROM assets WHERE kind = 'image' AND mime IN ('image/png', 'image/jpeg', 'image/gif') AND phash IS NULL",
    );
    if (n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail("thumbnail jobs did not finish within 60 s");
}

/**
 * Every row of every table (without the authentication touch columns), for "nothing changed"
 * checks. The full-text indexes' own tables are left out: they mirror `assets` and `listings`, which
 * are compared.
 */
async function state() {
  const tables = await query(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' AND name NOT LIKE 'assets_fts%' AND name NOT LIKE 'listings_fts%' ORDER BY name",
  );
  const out = {};
  for (const { name } of tables) out[name] = await query(`SELECT * FROM "${name}" ORDER BY rowid`);
  return withoutTouches(out);
}

test("a single-request upload is typed by its bytes, checksummed, probed and deduplicated", async () => {
  const bytes = quadrants(64, 48);
  // The client claims text; the bytes are a PNG, and a PNG it is.
  const res = await upload(bytes, { name: "quadrants.txt", tags: "test, colour ,test", contentType: "text/plain" });
  assert.equal(res.status, 201, res.text);
  const asset = res.body.asset;
  assert.match(asset.id, /^ast_/);
  assert.equal(asset.org_id, orgId);
  assert.equal(asset.kind, "image");
  assert.equal(asset.mime, "image/png");
  assert.equal(asset.bytes, bytes.length);
  assert.equal(asset.sha256, sha256(bytes));
  assert.equal(asset.width, 64);
  assert.equal(asset.height, 48);
  assert.deepEqual(asset.tags, ["test", "colour"]);
  assert.equal(asset.status, "ready");
  assert.deepEqual(asset.owner, { type: "user", id: owner.user.id });
  assert.equal(res.body.duplicate, false);

  const [row] = await query("SELECT sha256, r2_key FROM assets WHERE id = ?", asset.id);
  assert.equal(row.sha256, sha256(bytes));
  assert.equal(row.r2_key, `orgs/${orgId}/assets/${asset.id}`);
  const object = await (await bucket()).get(row.r2_key);
  assert.equal(sha256(Buffer.from(await object.arrayBuffer())), sha256(bytes), "R2 holds the bytes");
  const [audit] = await query("SELECT actor_id, result FROM audit_log WHERE action = 'asset.upload' AND target_id = ?", asset.id);
  assert.deepEqual(audit, { actor_id: owner.user.id, result: "success" });
  const [event] = await query("SELECT COUNT(*) AS n FROM events WHERE name = 'asset.upload' AND properties LIKE ?", `%${asset.id}%`);
  assert.equal(event.n, 1);

  // The same bytes again (under another name, by an editor key): the existing asset, no copy.
  const keysBefore = await r2Keys();
  const again = await upload(bytes, { name: "copy.png", client: editorKey.client });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.duplicate, true);
  assert.equal(again.body.asset.id, asset.id);
  assert.deepEqual(await r2Keys(), keysBefore, "no second object in R2");
  const [count] = await query("SELECT COUNT(*) AS n FROM assets WHERE sha256 = ?", sha256(bytes));
  assert.equal(count.n, 1);

  // Another organisation's identical bytes are its own asset.
  const theirs = await upload(bytes, { name: "theirs", client: stranger.client, org: stranger.org.id });
  assert.equal(theirs.status, 201, theirs.text);
  assert.notEqual(theirs.body.asset.id, asset.id);
});

test("audio, GIF, API-key and other uploads carry what their headers tell", async () => {
  const audio = wav(2, 48_000, 24_000);
  const sound = await uploaded(audio, { name: "ramp.wav", kind: "audio", client: editorKey.client, contentType: "image/png" });
  assert.equal(sound.kind, "audio");
  assert.equal(sound.mime, "audio/wav");
  assert.equal(sound.duration_ms, 500);
  assert.deepEqual(sound.metadata.media, { format: "wav", channels: 2, sample_rate: 48_000, bits_per_sample: 16 });
  assert.deepEqual(sound.owner, { type: "api_key", id: editorKey.id });

  const gif = await uploaded(GIF_1X1, { name: "pixel.gif" });
  assert.equal(gif.mime, "image/gif");
  assert.deepEqual([gif.width, gif.height], [1, 1]);

  const text = await uploaded(Buffer.from("plain words for a document\n"), { name: "notes", kind: "document" });
  assert.equal(text.mime, "text/plain");
  assert.equal(text.kind, "document");
});

test("a declared type that the bytes contradict is refused when it matters, and changes nothing", async () => {
  await thumbnailsSettled();
  const before = await state();
  const keys = await r2Keys();
  const lie = await upload(Buffer.from("this is not a picture at all"), { name: "fake.png", kind: "image", contentType: "image/png" });
  const error = expectError(assert, lie, 422, "content_mismatch");
  assert.match(error.message, /text\/plain/);
  expectError(assert, await upload(quadrants(8, 8), { name: "song.wav", kind: "audio", contentType: "audio/wav" }), 422, "content_mismatch");
  // A PNG signature over a damaged header is not an image either.
  const broken = Buffer.concat([quadrants(8, 8).subarray(0, 12), Buffer.from("XXXXgarbage-after-signature")]);
  expectError(assert, await upload(broken, { name: "broken.png" }), 422, "invalid_media");
  assert.deepEqual(await state(), before, "D1 unchanged");
  assert.deepEqual(await r2Keys(), keys, "no object left in R2");
});

test("multipart upload: parts in any order, checksum of the whole, ranges across parts", async () => {
  const size = 2 * 5 * MiB + 123_457;
  const bytes = fakeMp4(size, 7);
  const created = await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "Launch cut.mp4", bytes: size, kind: "video", tags: ["launch"] });
  assert.equal(created.status, 201, created.text);
  const upload = created.body.upload;
  assert.match(upload.id, /^upl_/);
  assert.equal(upload.status, "open");
  assert.ok(upload.part_size >= 5 * MiB);
  const parts = [bytes.subarray(0, 5 * MiB), bytes.subarray(5 * MiB, 10 * MiB), bytes.subarray(10 * MiB)];
  // Second, third and first: order of arrival does not matter; part 2 is sent twice.
  for (const n of [2, 3, 2, 1]) {
    const res = await raw(owner.client, "PUT", `/v1/uploads/${upload.id}/parts/${n}`, parts[n - 1]);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.part.part_number, n);
    assert.equal(res.body.part.bytes, parts[n - 1].length);
    assert.ok(res.body.part.etag);
  }
  const [row] = await query("SELECT parts FROM asset_uploads WHERE id = ?", upload.id);
  assert.equal(JSON.parse(row.parts).length, 3, "a repeated part replaces the first");

  const done = await owner.client.post(`/v1/uploads/${upload.id}/complete`);
  assert.equal(done.status, 201, done.text);
  const asset = done.body.asset;
  assert.equal(asset.id, upload.asset_id);
  assert.equal(asset.kind, "video");
  assert.equal(asset.mime, "video/mp4");
  assert.equal(asset.bytes, size);
  assert.equal(asset.sha256, sha256(bytes));
  assert.deepEqual(asset.tags, ["launch"]);
  const [closed] = await query("SELECT status FROM asset_uploads WHERE id = ?", upload.id);
  assert.equal(closed.status, "completed");
  expectError(assert, await owner.client.post(`/v1/uploads/${upload.id}/complete`), 409, "upload_closed");

  // A range across the boundary of parts 1 and 2.
  const from = 5 * MiB - 10;
  const ranged = await raw(owner.client, "GET", `/v1/assets/${asset.id}/content`, undefined, { range: `bytes=${from}-${from + 19}` });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get("content-range"), `bytes ${from}-${from + 19}/${size}`);
  assert.deepEqual(ranged.bytes, bytes.subarray(from, from + 20));
  const whole = await raw(owner.client, "GET", `/v1/assets/${asset.id}/content`);
  assert.equal(whole.status, 200);
  assert.equal(sha256(whole.bytes), sha256(bytes));

  const verified = await owner.client.post(`/v1/assets/${asset.id}/verify`);
  assert.equal(verified.status, 200, verified.text);
  assert.equal(verified.body.ok, true);
});

test("multipart refusals: small parts, wrong kind, plan limit, abort", async () => {
  // Parts under 5 MiB (except the last) are refused at completion.
  const small = await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "small parts" });
  assert.equal(small.status, 201, small.text);
  const id = small.body.upload.id;
  for (const n of [1, 2]) {
    const res = await raw(owner.client, "PUT", `/v1/uploads/${id}/parts/${n}`, fakeMp4(MiB, n));
    assert.equal(res.status, 200, res.text);
  }
  expectError(assert, await owner.client.post(`/v1/uploads/${id}/complete`), 422, "part_too_small");
  expectError(assert, await raw(owner.client, "PUT", `/v1/uploads/${id}/parts/0`, Buffer.from("x")), 422, "invalid_part_number");
  expectError(assert, await raw(owner.client, "PUT", `/v1/uploads/${id}/parts/10001`, Buffer.from("x")), 422, "invalid_part_number");
  // Other organisations and viewers cannot touch it.
  expectError(assert, await raw(stranger.client, "PUT", `/v1/uploads/${id}/parts/3`, Buffer.from("x")), 404, "not_found");
  expectError(assert, await stranger.client.delete(`/v1/uploads/${id}`), 404, "not_found");
  expectError(assert, await raw(viewer.client, "PUT", `/v1/uploads/${id}/parts/3`, Buffer.from("x")), 403, "forbidden");
  // Abort: R2 drops the parts; the upload is closed.
  const aborted = await owner.client.delete(`/v1/uploads/${id}`);
  assert.equal(aborted.status, 204, `${aborted.text} ${[...aborted.headers].join(" ")}`);
  expectError(assert, await raw(owner.client, "PUT", `/v1/uploads/${id}/parts/3`, Buffer.from("x")), 409, "upload_closed");
  expectError(assert, await owner.client.post(`/v1/uploads/${id}/complete`), 409, "upload_closed");

  // Over the plan's limit, announced or sent.
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "huge", bytes: MAX_BYTES + 1 }), 413, "payload_too_large");
  const big = await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "grows too big" });
  const bigId = big.body.upload.id;
  for (const n of [1, 2]) {
    assert.equal((await raw(owner.client, "PUT", `/v1/uploads/${bigId}/parts/${n}`, fakeMp4(Math.floor(5.9 * MiB), n))).status, 200);
  }
  // 11.8 MiB received; 0.5 MiB more would pass the 12 MiB limit.
  expectError(assert, await raw(owner.client, "PUT", `/v1/uploads/${bigId}/parts/3`, fakeMp4(0.5 * MiB, 3)), 413, "payload_too_large");
  assert.equal((await owner.client.delete(`/v1/uploads/${bigId}`)).status, 204);

  // The bytes contradict the kind asked for: refused, and the assembled object is deleted.
  const keys = await r2Keys();
  const wrong = await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "not audio", kind: "audio" });
  const wrongId = wrong.body.upload.id;
  assert.equal((await raw(owner.client, "PUT", `/v1/uploads/${wrongId}/parts/1`, fakeMp4(MiB, 9))).status, 200);
  expectError(assert, await owner.client.post(`/v1/uploads/${wrongId}/complete`), 422, "content_mismatch");
  assert.deepEqual(await r2Keys(), keys, "no object left in R2");
  const [closed] = await query("SELECT status FROM asset_uploads WHERE id = ?", wrongId);
  assert.equal(closed.status, "aborted");
});

test("downloads: ETag and If-None-Match, ranges, 416, headers, permissions", async () => {
  const bytes = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyz".repeat(10));
  const asset = await uploaded(bytes, { name: "alphabet \"quoted\".txt" });
  const url = `/v1/assets/${asset.id}/content`;
  const full = await raw(viewer.client, "GET", url);
  assert.equal(full.status, 200);
  assert.deepEqual(full.bytes, bytes);
  assert.equal(full.headers.get("etag"), `"${sha256(bytes)}"`);
  assert.equal(full.headers.get("content-type"), "text/plain");
  assert.equal(full.headers.get("accept-ranges"), "bytes");
  assert.match(full.headers.get("content-disposition"), /^inline; filename="alphabet _quoted_.txt"; filename\*=UTF-8''alphabet%20%22quoted%22.txt$/);

  const notModified = await raw(viewer.client, "GET", url, undefined, { "if-none-match": `"${sha256(bytes)}"` });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.bytes.length, 0);
  assert.equal((await raw(viewer.client, "GET", url, undefined, { "if-none-match": "\"other\"" })).status, 200);

  const cases = [
    ["bytes=0-9", 0, 9],
    ["bytes=350-", 350, 359],
    ["bytes=-5", 355, 359],
    ["bytes=355-9999", 355, 359],
  ];
  for (const [range, start, end] of cases) {
    const res = await raw(viewer.client, "GET", url, undefined, { range });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/360`, range);
    assert.deepEqual(res.bytes, bytes.subarray(start, end + 1), range);
  }
  for (const range of ["bytes=360-", "bytes=9-3", "bytes=abc", "bytes=-0"]) {
    const res = await raw(viewer.client, "GET", url, undefined, { range });
    expectError(assert, res, 416, "range_not_satisfiable");
    assert.equal(res.headers.get("content-range"), "bytes */360", range);
  }
  // Several ranges at once: the whole file (allowed by RFC 9110).
  assert.equal((await raw(viewer.client, "GET", url, undefined, { range: "bytes=0-1,4-5" })).status, 200);

  expectError(assert, await raw(stranger.client, "GET", url), 404, "not_found");
  expectError(assert, await new Client(app).get(url), 401, "unauthenticated");
});

test("checksum verification re-reads storage and notices changed bytes", async () => {
  const bytes = Buffer.from("bytes whose integrity is checked\n");
  const asset = await uploaded(bytes, { name: "integrity.txt" });
  const ok = await viewer.client.post(`/v1/assets/${asset.id}/verify`);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.body, {
    asset_id: asset.id, ok: true, expected_sha256: sha256(bytes), actual_sha256: sha256(bytes),
    expected_bytes: bytes.length, actual_bytes: bytes.length,
  });
  // Corrupt the stored object behind the API's back.
  const tampered = "bytes whose integrity is CHECKED\n";
  await (await bucket()).put(`orgs/${orgId}/assets/${asset.id}`, tampered);
  const bad = await viewer.client.post(`/v1/assets/${asset.id}/verify`);
  assert.equal(bad.status, 200, bad.text);
  assert.equal(bad.body.ok, false);
  assert.equal(bad.body.actual_sha256, sha256(Buffer.from(tampered)));
  const [audit] = await query("SELECT result FROM audit_log WHERE action = 'asset.verify' AND target_id = ? ORDER BY id DESC LIMIT 1", asset.id);
  assert.equal(audit.result, "failure");
  expectError(assert, await stranger.client.post(`/v1/assets/${asset.id}/verify`), 404, "not_found");
});

test("signed URLs: valid, ranged, expired, tampered, limits", async () => {
  const bytes = quadrants(20, 10);
  const asset = await uploaded(bytes, { name: "shared.png" });
  const made = await viewer.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: 600 });
  assert.equal(made.status, 200, made.text);
  const link = new URL(made.body.url);
  assert.equal(link.pathname, `/v1/shared/${orgId}/${asset.id}`);
  const expiresAt = Date.parse(made.body.expires_at);
  assert.ok(Math.abs(expiresAt - (Date.now() + 600_000)) < 5_000);
  const local = link.pathname + link.search;

  const anonymous = await app.fetch(local);
  assert.equal(anonymous.status, 200);
  assert.equal(anonymous.headers.get("content-type"), "image/png");
  assert.deepEqual(Buffer.from(await anonymous.arrayBuffer()), bytes);
  const ranged = await app.fetch(local, { headers: { range: "bytes=0-7" } });
  assert.equal(ranged.status, 206);
  assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(0, 8));

  const tamper = async (mutate) => {
    const url = new URL(link);
    mutate(url);
    const res = await new Client(app).get(url.pathname + url.search);
    return res;
  };
  const flip = (sig) => (sig[0] === "a" ? "b" : "a") + sig.slice(1);
  expectError(assert, await tamper((u) => u.searchParams.set("sig", flip(u.searchParams.get("sig")))), 403, "invalid_signature");
  expectError(assert, await tamper((u) => u.searchParams.set("exp", String(Number(u.searchParams.get("exp")) + 3600))), 403, "invalid_signature");
  expectError(assert, await tamper((u) => u.searchParams.set("type", "text/html")), 403, "invalid_signature");
  expectError(assert, await tamper((u) => { u.pathname = `/v1/shared/${stranger.org.id}/${asset.id}`; }), 403, "invalid_signature");
  expectError(assert, await tamper((u) => u.searchParams.delete("sig")), 403, "invalid_signature");

  const brief = await owner.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: 1 });
  assert.equal(brief.status, 200, brief.text);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const briefUrl = new URL(brief.body.url);
  expectError(assert, await new Client(app).get(briefUrl.pathname + briefUrl.search), 410, "link_expired");

  expectError(assert, await owner.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: 7 * 24 * 3600 + 1 }), 422, "invalid_expires_in");
  expectError(assert, await owner.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: 0 }), 422, "invalid_expires_in");
  expectError(assert, await owner.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: "1h" }), 422, "invalid_request");
  expectError(assert, await stranger.client.post(`/v1/assets/${asset.id}/signed-url`, { expires_in: 60 }), 404, "not_found");
  const defaulted = await owner.client.post(`/v1/assets/${asset.id}/signed-url`);
  assert.equal(defaulted.status, 200, defaulted.text);

  // Deleting the asset revokes its links: the bytes are gone.
  assert.equal((await owner.client.delete(`/v1/assets/${asset.id}?derivatives=cascade`)).status, 204);
  expectError(assert, await new Client(app).get(local), 404, "not_found");
});

test("search: words as prefixes over name, tags and metadata; kind, tag and date filters; pages", async () => {
  const { body: { org } } = await owner.client.post("/v1/orgs", { name: "Search studio" });
  const make = (text, options) => uploaded(Buffer.from(text), { org: org.id, ...options });
  const startedAt = new Date().toISOString();
  const sunset = await make("sunset notes", { name: "Sunset over the bay", tags: "beach,summer" });
  const sunrise = await make("sunrise notes", { name: "Sunrise drive", tags: "road" });
  const logo = await uploaded(checkerboard(32, 24), { org: org.id, name: "Brand logo", tags: "brand" });
  const contract = await make("contract text", { name: "Contract" });
  const patched = await owner.client.patch(`/v1/assets/${contract.id}`, { metadata: { client: "Acme Corporation", year: 2026 } });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.asset.metadata.client, "Acme Corporation");

  const ids = async (query) => {
    const res = await owner.client.get(`/v1/orgs/${org.id}/assets?${query}`);
    assert.equal(res.status, 200, `${query}: ${res.text}`);
    return res.body.items.map((a) => a.id);
  };
  assert.deepEqual(await ids("q=suns"), [sunset.id], "prefix of a name word");
  assert.deepEqual(await ids("q=sun"), [sunrise.id, sunset.id], "newest first");
  assert.deepEqual(await ids("q=summ"), [sunset.id], "a tag");
  assert.deepEqual(await ids("q=acme"), [contract.id], "a metadata value");
  assert.deepEqual(await ids("q=sun%20drive"), [sunrise.id], "every word must match");
  assert.deepEqual(await ids("kind=image"), [logo.id]);
  assert.deepEqual(await ids("tag=road"), [sunrise.id]);
  assert.deepEqual(await ids("tag=roa"), [], "tags match exactly");
  assert.deepEqual(await ids(`created_after=${encodeURIComponent(startedAt)}&q=sunset`), [sunset.id]);
  assert.deepEqual(await ids(`created_before=${encodeURIComponent(startedAt)}`), []);
  // FTS syntax in the user's text is taken as words, never an error.
  for (const q of ['"', "(*", "NEAR(", "a AND", "col:x", "*", "-"]) {
    assert.ok(Array.isArray(await ids(`q=${encodeURIComponent(q)}`)), q);
  }
  // Pages of two, newest first, until the end.
  const seen = [];
  let cursor;
  do {
    const res = await owner.client.get(`/v1/orgs/${org.id}/assets?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body.items.length <= 2);
    seen.push(...res.body.items.map((a) => a.id));
    cursor = res.body.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, [contract.id, logo.id, sunrise.id, sunset.id]);

  expectError(assert, await owner.client.get(`/v1/orgs/${org.id}/assets?kind=movie`), 422, "invalid_kind");
  expectError(assert, await owner.client.get(`/v1/orgs/${org.id}/assets?created_after=yesterday`), 422, "invalid_date");
  expectError(assert, await owner.client.get(`/v1/orgs/${org.id}/assets?cursor=%%%`), 400, "invalid_cursor");
  expectError(assert, await owner.client.get(`/v1/orgs/${org.id}/assets?limit=0`), 422, "invalid_limit");
  expectError(assert, await stranger.client.get(`/v1/orgs/${org.id}/assets?q=sun`), 404, "not_found");
});

test("thumbnails arrive through the queue; lineage both ways; near-duplicates by perceptual hash", async () => {
  const original = await uploaded(picture(600, 300, { seed: 0 }), { name: "Harbour" });
  assert.equal(original.thumbnail_asset_id, null, "the thumbnail is made by a job, after the upload answers");
  // Until the job has run the thumbnail answers 404 not_ready; the job may already be done.
  const early = await owner.client.get(`/v1/assets/${original.id}/thumbnail`);
  if (early.status !== 200) expectError(assert, early, 404, "not_ready");
  const brighter = await uploaded(picture(600, 300, { seed: 0, brighten: 14 }), { name: "Harbour (brighter)" });
  const unrelated = await uploaded(checkerboard(300, 300), { name: "Checks" });
  const jpegLike = await uploaded(picture(120, 80, { seed: 2 }), { name: "Other harbour" });

  const ready = await thumbnailOf(original.id);
  assert.match(ready.phash, /^[0-9a-f]{16}$/);
  // It was a typed job on the interactive queue, recorded with its output.
  const jobs = await query("SELECT kind, priority, status, params, result_asset_ids FROM jobs WHERE kind = 'make_thumbnail' AND params LIKE ?", `%${original.id}%`);
  assert.equal(jobs.length, 1, JSON.stringify(jobs));
  assert.equal(jobs[0].priority, "interactive");
  assert.equal(jobs[0].status, "succeeded");
  assert.deepEqual(JSON.parse(jobs[0].result_asset_ids), [ready.thumbnail_asset_id]);
  const thumb = await raw(viewer.client, "GET", `/v1/assets/${original.id}/thumbnail`);
  assert.equal(thumb.status, 200, thumb.text);
  assert.equal(thumb.headers.get("content-type"), "image/png");
  const decoded = decodePng(thumb.bytes);
  assert.deepEqual([decoded.width, decoded.height], [256, 128]);
  const thumbAsset = (await owner.client.get(`/v1/assets/${ready.thumbnail_asset_id}`)).body.asset;
  assert.equal(thumbAsset.kind, "thumbnail");
  assert.deepEqual([thumbAsset.width, thumbAsset.height], [256, 128]);
  assert.equal(thumbAsset.sha256, sha256(thumb.bytes));
  assert.deepEqual(thumbAsset.owner, { type: "job", id: null });

  // Asking again changes nothing: the image has its thumbnail. With its hash removed behind
  // the API's back, two requests run the job twice: still one thumbnail, the same hash.
  const again = await owner.client.post(`/v1/assets/${original.id}/thumbnail`);
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.body, { asset_id: original.id, thumbnail_asset_id: ready.thumbnail_asset_id, queued: false });
  expectError(assert, await viewer.client.post(`/v1/assets/${original.id}/thumbnail`), 403, "forbidden");
  await query("UPDATE assets SET phash = NULL WHERE id = ?", original.id);
  // Sent together, both find the hash missing and queue a job (a job that finishes before
  // the other request is read would make that one answer 200: that is allowed, but at least
  // the first queues).
  const requests = await Promise.all([0, 1].map(() => owner.client.post(`/v1/assets/${original.id}/thumbnail`)));
  assert.ok(requests.some((r) => r.status === 202 && r.body.queued === true), requests.map((r) => r.text).join(" "));
  for (const r of requests) assert.ok(r.status === 202 || (r.status === 200 && r.body.queued === false), r.text);
  const queuedJobs = requests.filter((r) => r.status === 202).length;
  const redone = await thumbnailOf(original.id);
  assert.equal(redone.phash, ready.phash, "the same hash again");
  assert.equal(redone.thumbnail_asset_id, ready.thumbnail_asset_id, "the same thumbnail");
  // Every queued job ran to success, and all of them point at the one thumbnail.
  for (let i = 0; ; i++) {
    const done = await query("SELECT status, result_asset_ids FROM jobs WHERE kind = 'make_thumbnail' AND params LIKE ? AND status = 'succeeded'", `%${original.id}%`);
    if (done.length === 1 + queuedJobs) {
      for (const job of done) assert.deepEqual(JSON.parse(job.result_asset_ids), [ready.thumbnail_asset_id]);
      break;
    }
    assert.ok(i < 100, `the thumbnail jobs finish (${done.length} of ${1 + queuedJobs})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [{ n: thumbnails }] = await query("SELECT COUNT(*) AS n FROM asset_lineage WHERE parent_id = ?", original.id);
  assert.equal(thumbnails, 1, "one thumbnail however often the job runs");
  const textAsset = await uploaded(Buffer.from("not an image at all"), { name: "text" });
  expectError(assert, await owner.client.post(`/v1/assets/${textAsset.id}/thumbnail`), 422, "not_an_image");

  // Lineage, both ways.
  const down = await owner.client.get(`/v1/assets/${original.id}/lineage?direction=descendants`);
  assert.equal(down.status, 200, down.text);
  assert.deepEqual(down.body.nodes.map((n) => n.id).sort(), [original.id, thumbAsset.id].sort());
  assert.equal(down.body.edges.length, 1);
  const [edge] = down.body.edges;
  assert.equal(edge.from, original.id);
  assert.equal(edge.to, thumbAsset.id);
  assert.equal(edge.recipe.job_kind, "make_thumbnail");
  assert.deepEqual(edge.recipe.params, { max_side: 256 });
  assert.equal(typeof edge.recipe.editor_core_version, "string");
  const up = await owner.client.get(`/v1/assets/${thumbAsset.id}/lineage?direction=ancestors`);
  assert.deepEqual(up.body.nodes.map((n) => n.id).sort(), [original.id, thumbAsset.id].sort());
  assert.deepEqual(up.body.edges.map((e) => [e.from, e.to]), [[original.id, thumbAsset.id]]);
  const ownAncestors = await owner.client.get(`/v1/assets/${original.id}/lineage?direction=ancestors`);
  assert.deepEqual(ownAncestors.body.nodes.map((n) => n.id), [original.id]);
  assert.deepEqual(ownAncestors.body.edges, []);
  expectError(assert, await owner.client.get(`/v1/assets/${original.id}/lineage?direction=sideways`), 422, "invalid_direction");

  // Near-duplicate search.
  await thumbnailOf(brighter.id);
  await thumbnailOf(unrelated.id);
  await thumbnailOf(jpegLike.id);
  const similar = await owner.client.get(`/v1/assets/${original.id}/similar?max_distance=10`);
  assert.equal(similar.status, 200, similar.text);
  const found = similar.body.items.map((i) => i.asset.id);
  assert.ok(found.includes(brighter.id), `the brightened copy is found: ${similar.text}`);
  assert.ok(!found.includes(unrelated.id), "the checkerboard is not similar");
  assert.ok(!found.includes(original.id), "not itself");
  assert.ok(!similar.body.items.some((i) => i.asset.kind === "thumbnail"));
  const distances = similar.body.items.map((i) => i.distance);
  assert.deepEqual(distances, [...distances].sort((a, b) => a - b), "closest first");
  assert.ok(similar.body.items[0].distance <= 4, similar.text);
  expectError(assert, await owner.client.get(`/v1/assets/${original.id}/similar?max_distance=65`), 422, "invalid_max_distance");
  expectError(assert, await stranger.client.get(`/v1/assets/${original.id}/similar`), 404, "not_found");
  const notImage = await uploaded(Buffer.from("no picture here"), { name: "words" });
  expectError(assert, await owner.client.get(`/v1/assets/${notImage.id}/similar`), 409, "not_ready");
});

test("deleting a source: 409 with the derivatives, then keep (detach) or cascade; R2 follows", async () => {
  const keep = await uploaded(picture(200, 100, { seed: 4 }), { name: "Keep source" });
  const keepThumb = (await thumbnailOf(keep.id)).thumbnail_asset_id;
  const before = await state();
  const refused = await owner.client.delete(`/v1/assets/${keep.id}`);
  const error = expectError(assert, refused, 409, "derivatives_exist");
  assert.deepEqual(error.details.derivatives.map((d) => d.id), [keepThumb]);
  expectError(assert, await owner.client.delete(`/v1/assets/${keep.id}?derivatives=maybe`), 422, "invalid_derivatives");
  expectError(assert, await viewer.client.delete(`/v1/assets/${keep.id}?derivatives=cascade`), 403, "forbidden");
  expectError(assert, await stranger.client.delete(`/v1/assets/${keep.id}?derivatives=cascade`), 404, "not_found");
  assert.deepEqual(await state(), before, "refusals change nothing");

  const kept = await owner.client.delete(`/v1/assets/${keep.id}?derivatives=keep`);
  assert.equal(kept.status, 204, kept.text);
  expectError(assert, await owner.client.get(`/v1/assets/${keep.id}`), 404, "not_found");
  expectError(assert, await raw(owner.client, "GET", `/v1/assets/${keep.id}/content`), 404, "not_found");
  const orphan = await owner.client.get(`/v1/assets/${keepThumb}`);
  assert.equal(orphan.status, 200, "the derivative remains");
  assert.equal(orphan.body.asset.metadata.detached_from.asset_id, keep.id);
  assert.equal(orphan.body.asset.metadata.detached_from.recipe.job_kind, "make_thumbnail");
  const lineage = await owner.client.get(`/v1/assets/${keepThumb}/lineage`);
  assert.deepEqual(lineage.body.edges, []);
  const keys = await r2Keys();
  assert.ok(!keys.includes(`orgs/${orgId}/assets/${keep.id}`), "the source's bytes are gone");
  assert.ok(keys.includes(`orgs/${orgId}/assets/${keepThumb}`), "the derivative's bytes remain");
  const [audit] = await query("SELECT details FROM audit_log WHERE action = 'asset.delete' AND target_id = ?", keep.id);
  assert.deepEqual(JSON.parse(audit.details).detached, [keepThumb]);

  const cascade = await uploaded(picture(200, 100, { seed: 5 }), { name: "Cascade source" });
  const cascadeThumb = (await thumbnailOf(cascade.id)).thumbnail_asset_id;
  const gone = await owner.client.delete(`/v1/assets/${cascade.id}?derivatives=cascade`);
  assert.equal(gone.status, 204, gone.text);
  for (const id of [cascade.id, cascadeThumb]) {
    expectError(assert, await owner.client.get(`/v1/assets/${id}`), 404, "not_found");
    expectError(assert, await raw(owner.client, "GET", `/v1/assets/${id}/content`), 404, "not_found");
  }
  const after = await r2Keys();
  assert.ok(!after.some((k) => k.endsWith(cascade.id) || k.endsWith(cascadeThumb)), "no object left in R2");
  const [lineageRows] = await query("SELECT COUNT(*) AS n FROM asset_lineage WHERE parent_id = ? OR child_id = ?", cascade.id, cascadeThumb);
  assert.equal(lineageRows.n, 0);
  const [fts] = await query("SELECT COUNT(*) AS n FROM assets_fts WHERE assets_fts MATCH ?", '"Cascade"');
  assert.equal(fts.n, 0, "the search index forgot them");

  // Without derivatives, a plain delete works.
  const lone = await uploaded(Buffer.from("alone"), { name: "Lone" });
  assert.equal((await editorKey.client.delete(`/v1/assets/${lone.id}`)).status, 204);
});

test("bad input changes nothing and leaves no object in R2", async () => {
  const asset = await uploaded(Buffer.from("target of bad requests"), { name: "Target" });
  await thumbnailsSettled();
  const before = await state();
  const keys = await r2Keys();
  const cases = [
    [await upload(Buffer.from("x"), { name: "" }), 422, "invalid_name"],
    [await upload(Buffer.from("x"), { name: "a".repeat(101) }), 422, "invalid_name"],
    [await upload(Buffer.from("x"), { name: "n", kind: "movie" }), 422, "invalid_kind"],
    [await upload(Buffer.from("x"), { name: "n", kind: "thumbnail" }), 422, "invalid_kind"],
    [await upload(Buffer.from("x"), { name: "n", tags: "ok,," }), 422, "invalid_tags"],
    [await upload(Buffer.alloc(0), { name: "empty" }), 422, "empty_body"],
    [await upload(Buffer.from("x"), { name: "viewer", client: viewer.client }), 403, "forbidden"],
    [await upload(Buffer.from("x"), { name: "elsewhere", org: stranger.org.id }), 404, "not_found"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, {}), 422, "nothing_to_change"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, { name: 7 }), 422, "invalid_request"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, { metadata: [1, 2] }), 422, "invalid_metadata"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, { metadata: { media: "mine" } }), 422, "invalid_metadata"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, { tags: ["x".repeat(65)] }), 422, "invalid_tags"],
    [await owner.client.patch(`/v1/assets/${asset.id}`, "{not json"), 400, "malformed_json"],
    [await viewer.client.patch(`/v1/assets/${asset.id}`, { name: "viewer edit" }), 403, "forbidden"],
    [await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "x", bytes: 0 }), 422, "empty_body"],
    [await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "x", extra: 1 }), 422, "invalid_request"],
    [await owner.client.post(`/v1/orgs/${orgId}/uploads`, { name: "x", kind: "render" }), 422, "invalid_kind"],
    [await viewer.client.post(`/v1/orgs/${orgId}/uploads`, { name: "x" }), 403, "forbidden"],
  ];
  // Every route on another organisation's asset answers exactly like a missing one.
  for (const [method, suffix, body] of [
    ["GET", ""], ["PATCH", "", { name: "mine now" }], ["DELETE", ""], ["GET", "/content"], ["GET", "/thumbnail"], ["POST", "/thumbnail"],
    ["POST", "/signed-url", { expires_in: 60 }], ["GET", "/lineage"], ["GET", "/similar"], ["POST", "/verify"],
  ]) {
    const res = await stranger.client.request(method, `/v1/assets/${asset.id}${suffix}`, body);
    cases.push([res, 404, "not_found"]);
    const missing = await owner.client.request(method, `/v1/assets/ast_01JD0000000000000000000000${suffix}`, body);
    cases.push([missing, 404, "not_found"]);
  }
  for (const [res, status, code] of cases) expectError(assert, res, status, code);
  assert.deepEqual(await state(), before, "D1 unchanged");
  assert.deepEqual(await r2Keys(), keys, "no object left in R2");
});

test("frame.png renders an image clip from an uploaded asset; another org's asset renders as missing", async () => {
  const bytes = quadrants(64, 48);
  // Already uploaded by the first test: a duplicate upload returns it.
  const res = await upload(bytes, { name: "frame source" });
  assert.ok([200, 201].includes(res.status), res.text);
  const asset = res.body.asset;
  const foreign = (await upload(quadrants(64, 48), { name: "foreign", client: stranger.client, org: stranger.org.id })).body.asset;
  assert.ok(foreign?.id, "the stranger's copy exists");

  const project = await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "Stills", width: 64, height: 48, fps: 30 });
  assert.equal(project.status, 201, project.text);
  const projectId = project.body.project.id;
  const clip = (id, assetId, start) => ({
    type: "add_clip",
    track_id: "trk_01JD0000000000000000000001",
    clip: { id, start, duration: 10, source: { type: "image", asset_id: assetId, width: 64, height: 48 } },
  });
  const applied = await owner.client.post(`/v1/projects/${projectId}/commands`, {
    commands: [
      { type: "add_track", track: { id: "trk_01JD0000000000000000000001", kind: "video" } },
      clip("clp_01JD0000000000000000000001", asset.id, 0),
      clip("clp_01JD0000000000000000000002", foreign.id, 10),
    ],
  });
  assert.equal(applied.status, 200, applied.text);

  const frame = await raw(owner.client, "GET", `/v1/projects/${projectId}/frame.png?frame=0`);
  assert.equal(frame.status, 200, frame.text);
  const rendered = decodePng(frame.bytes);
  const source = decodePng(bytes);
  assert.deepEqual([rendered.width, rendered.height], [64, 48]);
  for (const [x, y] of [[0, 0], [10, 10], [50, 5], [5, 40], [63, 47], [31, 23], [32, 24]]) {
    assert.deepEqual(rendered.pixel(x, y), source.pixel(x, y), `pixel ${x},${y}`);
  }
  // The same frame again comes from the isolate's decoded-image cache, identically.
  const again = await raw(owner.client, "GET", `/v1/projects/${projectId}/frame.png?frame=0`);
  assert.deepEqual(again.bytes, frame.bytes);

  const foreignFrame = decodePng((await raw(owner.client, "GET", `/v1/projects/${projectId}/frame.png?frame=10`)).bytes);
  const colours = new Set(QUADRANT_COLORS.map((c) => c.join(",")));
  for (const [x, y] of [[10, 10], [50, 5], [5, 40], [50, 40]]) {
    assert.ok(!colours.has(foreignFrame.pixel(x, y).join(",")), `frame 10 pixel ${x},${y} shows nothing of the other org`);
  }
  assert.deepEqual(foreignFrame.pixel(10, 10), foreignFrame.pixel(50, 40), "an empty frame");
});

test("plan limit on single uploads, and sharing without a signing key (a second deployment)", async () => {
  // The shared app is stopped first: one local runtime at a time per test process.
  await r2?.dispose();
  r2 = undefined;
  await app.dispose();
  // A tiny limit keeps the refused body small: wrangler's local proxy mishandles answers sent
  // while megabytes of a request body are still unread (see workers/entry.mjs).
  app = await startApp({ vars: { ASSET_MAX_BYTES: "1000" } });
  const user = await signup(app, "limited");
  const org = user.org.id;
  const fits = await upload(Buffer.alloc(1000, 65), { name: "fits", client: user.client, org });
  assert.equal(fits.status, 201, fits.text);
  const before = await state();
  const keys = await r2Keys();
  const tooBig = await upload(Buffer.alloc(1001, 66), { name: "too big", client: user.client, org });
  const error = expectError(assert, tooBig, 413, "payload_too_large");
  assert.match(error.message, /1000 bytes/);
  expectError(assert, await user.client.post(`/v1/orgs/${org}/uploads`, { name: "big", bytes: 1001 }), 413, "payload_too_large");
  const link = await user.client.post(`/v1/assets/${fits.body.asset.id}/signed-url`, { expires_in: 60 });
  expectError(assert, link, 503, "signing_unavailable");
  const forged = await new Client(app).get(`/v1/shared/${org}/${fits.body.asset.id}?exp=9999999999&type=text%2Fplain&sig=00`);
  expectError(assert, forged, 503, "signing_unavailable");
  assert.deepEqual(await state(), before, "D1 unchanged");
  assert.deepEqual(await r2Keys(), keys, "no object left in R2");
});
