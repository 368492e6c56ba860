// Identity benchmarks inside local workerd: Argon2id hash time and login latency.
// Prints `bench <name>: <value> <unit>` lines.
import { startApp, Client, uniqueEmail, GOOD_PASSWORD } from "../harness.mjs";

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const app = await startApp({
  vars: { BENCH_HOOKS: "1", LOGIN_ACCOUNT_BURST: "100000", LOGIN_IP_BURST: "100000" },
});
try {
  const client = new Client(app);
  const hashRounds = async (rounds) => {
    const res = await app.fetch("/v1/health", { headers: { "x-bench-argon2-rounds": String(rounds) } });
    if (res.status !== 200) throw new Error(`bench hook failed: ${res.status}`);
    await res.arrayBuffer();
  };
  // Warm the isolate, then difference 11 hashes against 1 so request overhead cancels out.
  await hashRounds(1);
  const one = [];
  const eleven = [];
  for (let i = 0; i < 7; i++) {
    one.push(await timed(() => hashRounds(1)));
    eleven.push(await timed(() => hashRounds(11)));
    process.stderr.write(`argon2 sample ${i + 1}/7\n`);
  }
  const perHash = (median(eleven) - median(one)) / 10;
  console.log(`bench argon2id_hash_ms_workerd: ${perHash.toFixed(1)} ms`);

  const email = uniqueEmail("bench");
  const signup = await client.post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "Bench" });
  if (signup.status !== 201) throw new Error(`signup failed: ${signup.status}`);
  const logins = [];
  for (let i = 0; i < 40; i++) {
    logins.push(
      await timed(async () => {
        const res = await client.post("/v1/auth/login", { email, password: GOOD_PASSWORD });
        if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
      }),
    );
    if ((i + 1) % 10 === 0) process.stderr.write(`login samples ${i + 1}/40\n`);
  }
  console.log(`bench login_p50_ms: ${median(logins).toFixed(1)} ms`);
} finally {
  await app.dispose();
}
