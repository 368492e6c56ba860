// Agent Runtime benchmark inside local workerd: a slideshow recipe run of 10 images (5 steps:
// read, place, crossfade, title, render) driven through the jobs queue and checkpointed in its
// AgentRun Durable Object, without pacing; median of 5 runs, measured from the API.
// Prints `bench <name>: <value> <unit>` lines.
import { startApp, signup } from "../harness.mjs";
import { png } from "../support/png.mjs";

const RUNS = 5;
const IMAGES = 10;

const app = await startApp({ vars: { AGENT_STEP_DELAY_SECONDS: 0 } });
try {
  const owner = await signup(app, "bench-agents");
  const org = owner.org.id;
  const assets = [];
  for (let i = 0; i < IMAGES; i++) {
    const res = await app.fetch(`/v1/orgs/${org}/assets?name=slide-${i}.png`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner.session.token}`, "content-type": "image/png" },
      body: png(160, 90, (x, y) => [(x * 7 + i * 20) % 256, (y * 5) % 256, i * 25, 255]),
    });
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
    assets.push((await res.json()).asset.id);
  }
  const agent = await owner.client.post(`/v1/orgs/${org}/agents`, { name: "Bench", policy: { access: "write" } });
  if (agent.status !== 201) throw new Error(`agent: ${agent.status} ${agent.text}`);
  const totals = [];
  const perStep = [];
  for (let r = 0; r < RUNS; r++) {
    const project = await owner.client.post(`/v1/orgs/${org}/projects`, { name: `Bench ${r}`, width: 640, height: 360, fps: 30 });
    const start = performance.now();
    const created = await owner.client.post(`/v1/orgs/${org}/agents/${agent.body.agent.id}/runs`, {
      goal: "slideshow", planner: "recipe", recipe: "slideshow", project_id: project.body.project.id,
      inputs: { asset_ids: assets, seconds_per_image: 1, title: "Bench" },
    });
    if (created.status !== 202) throw new Error(`run: ${created.status} ${created.text}`);
    let run;
    for (;;) {
      run = (await owner.client.get(`/v1/agent-runs/${created.body.run.id}`)).body.run;
      if (!["running", "awaiting_approval"].includes(run.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (run.status !== "succeeded") throw new Error(`run ended ${run.status}: ${JSON.stringify(run.error)}`);
    const total = performance.now() - start;
    totals.push(total);
    perStep.push(total / run.steps.length);
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`bench agent_run_slideshow_${IMAGES}_images: ${median(totals).toFixed(0)} ms`);
  console.log(`bench agent_run_step: ${median(perStep).toFixed(0)} ms`);
} finally {
  await app.dispose();
}
