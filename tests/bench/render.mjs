// Render throughput of the job path inside local workerd: the reference timeline R1
// (editor-core/tests/fixtures/r1.json, with its photos and logo stored as the organisation's
// assets) is loaded into a project through the commands API and rendered as a PNG sequence by
// the real queue consumer. Frames per second = frames / (job finished_at - started_at): every
// chunk runs in the one local isolate, so that is one consumer's throughput.
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { root, signup, startApp } from "../harness.mjs";
import { fixture, openStorage, seedAsset, waitForJob } from "../support/jobs-support.mjs";

const note = (m) => process.stderr.write(`[bench render] ${m}\n`);
const app = await startApp();
const storage = await openStorage(app);
try {
  const owner = await signup(app, "bench");
  const orgId = owner.org.id;
  for (const [id, file, mime, size] of [
    ["ast_r1_photo_a", "r1_photo_a.jpg", "image/jpeg", 1920],
    ["ast_r1_photo_b", "r1_photo_b.jpg", "image/jpeg", 1920],
    ["ast_r1_logo", "r1_logo.png", "image/png", 512],
  ]) {
    await seedAsset(storage, { orgId, id, bytes: await fixture(file), mime, width: size, height: size === 512 ? 512 : 1080, name: file });
  }
  const r1 = JSON.parse(await readFile(path.join(root, "editor-core", "tests", "fixtures", "r1.json"), "utf8"));
  const created = await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "R1", width: r1.settings.width, height: r1.settings.height, fps: 30 });
  if (created.status !== 201) throw new Error(created.text);
  const projectId = created.body.project.id;
  const commands = [
    ...r1.tracks.map((track) => ({ type: "add_track", track })),
    ...r1.markers.map((marker) => ({ type: "add_marker", marker })),
  ];
  const loaded = await owner.client.post(`/v1/projects/${projectId}/commands`, { commands });
  if (loaded.status !== 200) throw new Error(`loading R1 failed: ${loaded.text}`);

  const run = async (body) => {
    const res = await owner.client.post(`/v1/projects/${projectId}/renders`, body);
    if (res.status !== 202) throw new Error(res.text);
    const job = await waitForJob(owner.client, res.body.job.id, (j) => ["succeeded", "failed", "dead", "cancelled"].includes(j.status), { timeout: 900_000, interval: 250 });
    if (job.status !== "succeeded") throw new Error(JSON.stringify(job));
    const seconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
    return (body.to_frame - body.from_frame + 1) / seconds;
  };
  note("warming up");
  await run({ kind: "png_sequence", from_frame: 0, to_frame: 3, scale: 0.25 });
  note("1080p: 60 frames across the crossfade");
  const full = await run({ kind: "png_sequence", from_frame: 120, to_frame: 179 });
  console.log(`bench render_r1_1080p_frames_per_s: ${full.toFixed(2)} frames/s`);
  note("540p: 120 frames");
  const half = await run({ kind: "png_sequence", from_frame: 90, to_frame: 209, scale: 0.5 });
  console.log(`bench render_r1_540p_frames_per_s: ${half.toFixed(2)} frames/s`);
} finally {
  await storage.dispose();
  await app.dispose();
}
