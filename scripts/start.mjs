// `npm start`: builds the Worker, applies the D1 migrations to local state (.state/dev), serves
// the app with wrangler dev on 127.0.0.1 (PORT overrides 8787), and seeds a demo account.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.PORT || 8787);
const persist = path.join(root, ".state", "dev");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const env = {
  ...process.env,
  PATH: `${process.env.HOME}/.cargo/bin:${path.join(root, "node_modules", ".bin")}:${process.env.PATH}`,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  XDG_CONFIG_HOME: path.join(root, ".state", "xdg"),
  WRANGLER_LOG_PATH: path.join(root, ".state", "logs"),
};

const DEMO = { email: "demo@creator-os.local", password: "proeditor-demo-2026", name: "Demo Creator" };

function step(message) {
  console.log(`[start] ${message}`);
}

step("building the Worker (first build takes a few minutes)");
const build = spawnSync("bash", [path.join(root, "scripts", "build-worker.sh")], { cwd: root, env, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

// Secrets wrangler dev reads from .dev.vars (ignored by git): random keys for signing asset
// sharing links and job webhooks, made once so that they survive restarts.
const devVars = path.join(root, ".dev.vars");
for (const [name, purpose] of [["ASSET_SIGNING_KEY", "asset sharing links"], ["WEBHOOK_SIGNING_SECRET", "job webhooks"], ["AUTOMATION_HOOK_SECRET", "inbound workflow webhooks"]]) {
  const existingVars = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  if (new RegExp(`^${name}=`, "m").test(existingVars)) continue;
  const separator = existingVars && !existingVars.endsWith("\n") ? "\n" : "";
  appendFileSync(devVars, `${separator}${name}=${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  step(`created a signing key for ${purpose} in .dev.vars`);
}
// Connector credentials are encrypted with AES-256-GCM: the key is base64 of 32 bytes.
if (!/^CONNECTOR_ENCRYPTION_KEY=/m.test(existsSync(devVars) ? readFileSync(devVars, "utf8") : "")) {
  const existingVars = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  const separator = existingVars && !existingVars.endsWith("\n") ? "\n" : "";
  appendFileSync(devVars, `${separator}CONNECTOR_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  step("created an encryption key for connector credentials in .dev.vars");
}
// Commerce: a licence-key secret of our own, and Stripe placeholders (test mode). Replace the
// placeholders with a Stripe test key and the endpoint's signing secret (`stripe listen`).
for (const [name, value] of [
  ["LICENCE_KEY_SECRET", randomBytes(32).toString("hex")],
  ["STRIPE_SECRET_KEY", "sk_test_placeholder"],
  ["STRIPE_WEBHOOK_SECRET", `whsec_${randomBytes(24).toString("hex")}`],
]) {
  const existingVars = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  if (new RegExp(`^${name}=`, "m").test(existingVars)) continue;
  const separator = existingVars && !existingVars.endsWith("\n") ? "\n" : "";
  appendFileSync(devVars, `${separator}${name}=${value}\n`, { mode: 0o600 });
  step(`added a development ${name} to .dev.vars`);
}

step("applying D1 migrations to .state/dev");
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
  cwd: root,
  env: { ...env, CI: "true" },
  stdio: "inherit",
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

step(`serving on http://127.0.0.1:${port}`);
const server = spawn(
  wrangler,
  ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--show-interactive-dev-session=false"],
  // The Worker was just built; wrangler's own build step would only repeat it.
  { cwd: root, env: { ...env, CREATOR_OS_SKIP_BUILD: "1" }, stdio: "inherit" },
);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.kill(signal));
}
server.on("exit", (code) => process.exit(code ?? 0));

const base = `http://127.0.0.1:${port}`;
async function waitForHealth() {
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      const res = await fetch(`${base}/v1/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("the server did not become healthy");
}

async function seed() {
  const headers = { "content-type": "application/json" };
  const login = await fetch(`${base}/v1/auth/login`, {
    method: "POST",
    headers,
    body: JSON.stringify({ email: DEMO.email, password: DEMO.password }),
  });
  if (login.ok) return "existing";
  const signup = await fetch(`${base}/v1/auth/signup`, { method: "POST", headers, body: JSON.stringify(DEMO) });
  if (signup.status !== 201) throw new Error(`seeding the demo account failed: ${signup.status} ${await signup.text()}`);
  return "created";
}

try {
  await waitForHealth();
  const how = await seed();
  console.log(`
  Creator OS is running on ${base}
  Demo account (${how}): ${DEMO.email} / ${DEMO.password}
  Try: curl -s -X POST ${base}/v1/auth/login -H 'content-type: application/json' \\
         -d '{"email":"${DEMO.email}","password":"${DEMO.password}"}'
  API description: ${base}/openapi.json
`);
} catch (error) {
  console.error(`[start] ${error.message}`);
  server.kill("SIGTERM");
  process.exit(1);
}
