// Tenant fairness of the job queues inside local workerd: organisation A submits 200 renders,
// then organisation B submits 5. The per-organisation JobScheduler keeps A to its batch share,
// so B's renders do not wait behind A's backlog. Prints the 95th percentile of B's completion
// time (submission to finish) and, for context, how long A's backlog took.
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { signup, startApp } from "../harness.mjs";
import { waitForJob } from "../support/jobs-support.mjs";

const note = (m) => process.stderr.write(`[bench fairness] ${m}\n`);
const ended = (j) => ["succeeded", "failed", "dead", "cancelled"].includes(j.status);
const app = await startApp();
try {
  const setup = async (label, n) => {
    const who = await signup(app, label);
    const project = (await who.client.post(`/v1/orgs/${who.org.id}/projects`, { name: label, width: 320, height: 180, fps: 30 })).body.project;
    const track = `trk_01JG${String(n).padStart(22, "0")}`;
    const commands = [{ type: "add_track", track: { id: track, kind: "video" } }];
    for (let i = 0; i < 4; i++) {
      commands.push({
        type: "add_clip",
        track_id: track,
        clip: {
          id: `clp_01JG${String(n * 100 + i).padStart(22, "0")}`,
          start: i * 6,
          duration: 6,
          source: { type: "linear_gradient", start: { x: 0, y: 0 }, end: { x: 320, y: 180 }, stops: [{ offset: 0, color: { r: 40 * i, g: 80, b: 160, a: 255 } }, { offset: 1, color: { r: 250, g: 200, b: 10 * i, a: 255 } }] },
        },
      });
    }
    const res = await who.client.post(`/v1/projects/${project.id}/commands`, { commands });
    if (res.status !== 200) throw new Error(res.text);
    return { ...who, project };
  };
  const a = await setup("tenant-a", 1);
  const b = await setup("tenant-b", 2);
  const submit = async (who) => {
    const res = await who.client.post(`/v1/projects/${who.project.id}/renders`, { kind: "apng", from_frame: 0, to_frame: 11 });
    if (res.status !== 202) throw new Error(res.text);
    return res.body.job.id;
  };
  note("A submits 200 renders");
  const aJobs = [];
  for (let i = 0; i < 200; i += 10) {
    aJobs.push(...(await Promise.all(Array.from({ length: 10 }, () => submit(a)))));
  }
  note("B submits 5 renders");
  const bJobs = [];
  for (let i = 0; i < 5; i++) bJobs.push(await submit(b));
  const bDone = [];
  for (const id of bJobs) bDone.push(await waitForJob(b.client, id, ended, { timeout: 900_000, interval: 200 }));
  const waits = bDone.map((j) => (Date.parse(j.finished_at) - Date.parse(j.created_at)) / 1000).sort((x, y) => x - y);
  const p95 = waits[Math.min(waits.length - 1, Math.ceil(0.95 * waits.length) - 1)];
  const aPending = (await a.client.get(`/v1/orgs/${a.org.id}/jobs?status=queued&limit=200`)).body.items.length;
  note(`B done; A still has ${aPending} queued renders`);
  console.log(`bench fairness_small_tenant_p95_s: ${p95.toFixed(2)} s`);
  let last = 0;
  for (const id of aJobs) {
    const job = await waitForJob(a.client, id, ended, { timeout: 1_800_000, interval: 500 });
    last = Math.max(last, Date.parse(job.finished_at));
  }
  const first = Math.min(...(await Promise.all(aJobs.slice(0, 10).map(async (id) => Date.parse((await a.client.get(`/v1/jobs/${id}`)).body.job.created_at)))));
  console.log(`bench fairness_large_tenant_makespan_s: ${((last - first) / 1000).toFixed(2)} s`);
} finally {
  await app.dispose();
}
