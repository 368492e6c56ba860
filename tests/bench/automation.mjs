// Workflow engine inside local workerd: how long the durable machinery takes per step (every
// step is a queued automation_step job with its D1 bookkeeping), a one-step run end to end,
// and a for_each fan-out of 20 items at concurrency 10. Steps are conditions (no outside I/O),
// so the figures are the engine's own cost.
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { signup, startApp } from "../harness.mjs";

const note = (m) => process.stderr.write(`[bench automation] ${m}\n`);
const app = await startApp();
try {
  const who = await signup(app, "bench-automation");
  const base = `/v1/orgs/${who.org.id}/workflows`;
  const create = async (definition) => {
    const res = await who.client.post(base, { definition });
    if (res.status !== 201) throw new Error(res.text);
    return res.body.workflow.id;
  };
  const runToEnd = async (workflowId, input) => {
    const started = Date.now();
    const res = await who.client.post(`${base}/${workflowId}/runs`, { input });
    if (res.status !== 202) throw new Error(res.text);
    const runId = res.body.run.id;
    for (;;) {
      const run = (await who.client.get(`${base}/${workflowId}/runs/${runId}`)).body.run;
      if (["succeeded", "failed", "cancelled"].includes(run.status)) {
        if (run.status !== "succeeded") throw new Error(JSON.stringify(run));
        return Date.now() - started;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const check = (id, after) => ({ id, type: "condition", ...(after ? { after: [after] } : {}), if: { left: "{{trigger.n}}", op: "gte", right: 0 } });

  const single = await create({ name: "one step", trigger: { type: "manual" }, steps: [check("only")] });
  const chainSteps = [];
  for (let i = 0; i < 10; i++) chainSteps.push(check(`s${i}`, i ? `s${i - 1}` : undefined));
  const chain = await create({ name: "ten steps", trigger: { type: "manual" }, steps: chainSteps });
  const fan = await create({
    name: "fan out",
    trigger: { type: "manual" },
    steps: [{ id: "each", type: "for_each", items: "{{trigger.items}}", concurrency: 10, each: { id: "item", type: "mcp_tool", tool: "list_projects", input: {} } }],
  });

  note("warming up");
  await runToEnd(single, { n: 1 });
  const singles = [];
  for (let i = 0; i < 5; i++) singles.push(await runToEnd(single, { n: i }));
  singles.sort((a, b) => a - b);
  console.log(`bench automation_one_step_run_median: ${singles[2]} ms`);
  note("ten-step chain");
  const chainMs = await runToEnd(chain, { n: 1 });
  console.log(`bench automation_chain_10_steps: ${chainMs} ms`);
  console.log(`bench automation_per_step_overhead: ${Math.round(chainMs / 10)} ms`);
  note("for_each over 20 items at concurrency 10");
  const fanMs = await runToEnd(fan, { items: Array.from({ length: 20 }, (_, i) => i) });
  console.log(`bench automation_for_each_20_items_c10: ${fanMs} ms`);
} finally {
  await app.dispose();
}
