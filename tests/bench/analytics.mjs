// Analytics benchmarks inside local workerd: capture throughput (inline batches of 100 events
// and a queued batch of 2,000), and trend / funnel / retention latency over the stored events.
// Prints `bench <name>: <value> <unit>` lines; progress goes to stderr.
import { startApp, signup } from "../harness.mjs";

const DAY = 86_400_000;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const app = await startApp();
try {
  const owner = await signup(app, "bench");
  const orgId = owner.org.id;
  const created = await owner.client.post(`/v1/orgs/${orgId}/analytics/keys`, { name: "bench" });
  if (created.status !== 201) throw new Error(`key: ${created.status} ${created.text}`);
  const key = created.body.key;
  const start = Math.floor(Date.now() / DAY) * DAY - 28 * DAY;
  let n = 0;
  const names = ["signup", "upload", "render", "publish", "video_viewed"];
  const makeEvents = (count) =>
    Array.from({ length: count }, () => {
      n += 1;
      return {
        event: names[n % names.length],
        distinct_id: `person-${n % 500}`,
        timestamp: new Date(start + ((n * 7919) % (28 * DAY))).toISOString(),
        properties: { plan: n % 3 === 0 ? "pro" : "free", $lib: "bench" },
        uuid: `01900000-0000-7000-8000-${String(n).padStart(12, "0")}`,
      };
    });
  const post = async (events) => {
    const res = await app.fetch("/batch/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ api_key: key, batch: events }),
    });
    if (res.status !== 200) throw new Error(`capture: ${res.status} ${await res.text()}`);
    return res.json();
  };

  const inline = [];
  for (let i = 0; i < 50; i++) {
    const batch = makeEvents(100);
    inline.push(await timed(() => post(batch)));
    if (i % 10 === 9) process.stderr.write(`inline batches ${i + 1}/50\n`);
  }
  const perBatch = median(inline);
  console.log(`bench analytics_capture_batch100_ms: ${perBatch.toFixed(1)} ms`);
  console.log(`bench analytics_capture_inline_events_per_s: ${Math.round(100 / (perBatch / 1000))} events/s`);

  const queuedStart = process.hrtime.bigint();
  const before = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ?", orgId);
  await post(makeEvents(2000));
  for (;;) {
    const rows = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ?", orgId);
    if (rows[0].n >= before[0].n + 2000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const queuedMs = Number(process.hrtime.bigint() - queuedStart) / 1e6;
  console.log(`bench analytics_capture_queued_2000_ms: ${queuedMs.toFixed(0)} ms`);

  const total = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ?", orgId);
  process.stderr.write(`${total[0].n} events stored\n`);
  const range = `from=${start}&to=${start + 28 * DAY}`;
  const queries = {
    trend_day: `/v1/orgs/${orgId}/analytics/trends?event=video_viewed&interval=day&${range}`,
    trend_unique_breakdown: `/v1/orgs/${orgId}/analytics/trends?event=video_viewed&measure=unique&breakdown=plan&${range}`,
    funnel_4_steps: `/v1/orgs/${orgId}/analytics/funnel?steps=signup,upload,render,publish&window_seconds=604800&${range}`,
    retention_week: `/v1/orgs/${orgId}/analytics/retention?start_event=signup&return_event=video_viewed&period=week&periods=3&${range}`,
  };
  for (const [name, path] of Object.entries(queries)) {
    await owner.client.get(path);
    const samples = [];
    for (let i = 0; i < 9; i++) {
      samples.push(
        await timed(async () => {
          const res = await owner.client.get(path);
          if (res.status !== 200) throw new Error(`${name}: ${res.status} ${res.text}`);
        }),
      );
    }
    console.log(`bench analytics_${name}_ms_${total[0].n}_events: ${median(samples).toFixed(1)} ms`);
  }
} finally {
  await app.dispose();
}
