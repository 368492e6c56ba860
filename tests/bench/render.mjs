// Render throughput of the job path inside local workerd: the reference timeline R1
// (editor-core/tests/fixtures/r1.json, with its photos and logo stored as the organisation's
// assets) is loaded into a project through the commands API and rendered as a PNG sequence by
// the real queue consumer. Frames per second = frames / (job finished_at - started_at): every
// chunk runs in the one local isolate, so that is one consumer's throughput. Each range is two
// chunks (8 frames at 1080p, 32 at 540p), the organisation's batch share, so both run at once
// and no chunk waits for admission. Each size runs on a fresh app.
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { signup, startApp } from "../harness.mjs";
import { loadR1, openStorage, waitForJob } from "../support/jobs-support.mjs";

const note = (m) => process.stderr.write(`[bench render] ${m}\n`);

async function measure(label, body) {
  const app = await startApp();
  const storage = await openStorage(app);
  try {
    const owner = await signup(app, "bench");
    const projectId = (await loadR1(storage, owner.client, owner.org.id)).id;
    const run = async (request) => {
      const res = await owner.client.post(`/v1/projects/${projectId}/renders`, request);
      if (res.status !== 202) throw new Error(res.text);
      const job = await waitForJob(owner.client, res.body.job.id, (j) => ["succeeded", "failed", "dead", "cancelled"].includes(j.status), { timeout: 900_000, interval: 1000 });
      if (job.status !== "succeeded") throw new Error(JSON.stringify(job));
      const seconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
      return (request.to_frame - request.from_frame + 1) / seconds;
    };
    note(`${label}: warming up`);
    await run({ kind: "png_sequence", from_frame: 0, to_frame: 1, scale: 0.25 });
    note(`${label}: ${body.to_frame - body.from_frame + 1} frames`);
    return await run(body);
  } finally {
    await storage.dispose();
    await app.dispose();
  }
}

const full = await measure("1080p", { kind: "png_sequence", from_frame: 136, to_frame: 143 });
console.log(`bench render_r1_1080p_frames_per_s: ${full.toFixed(2)} frames/s`);
const half = await measure("540p", { kind: "png_sequence", from_frame: 124, to_frame: 155, scale: 0.5 });
console.log(`bench render_r1_540p_frames_per_s: ${half.toFixed(2)} frames/s`);
