// MCP server benchmarks inside local workerd, driven by the official SDK client: latency of
// tools/list and of tool calls, and the size of the full catalog against one search_tools
// answer (context an agent has to load); and the toolgraph proxy: a call to an external MCP
// server (a loopback SDK server standing in for an external service) through the connector
// proxy, over HTTP and through /mcp, against the same call made directly with the SDK.
// Prints `bench <name>: <value> <unit>` lines.
import { startApp, signup } from "../harness.mjs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { allTools, sdkClient, startExternalMcpServer } from "../support/mcp-client.mjs";

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const external = await startExternalMcpServer();
const app = await startApp({ vars: { MCP_RATE_BURST: 100000, MCP_RATE_PER_MINUTE: 100000, CONNECTORS_DEV_ALLOW: `127.0.0.1:${external.port}` } });
try {
  const owner = await signup(app, "bench-mcp");
  const org = owner.org.id;
  const key = await owner.client.post(`/v1/orgs/${org}/api-keys`, { name: "bench agent", role: "editor" });
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.text}`);
  const created = await owner.client.post(`/v1/orgs/${org}/projects`, { name: "Bench", width: 640, height: 360, fps: 30 });
  if (created.status !== 201) throw new Error(`project: ${created.status} ${created.text}`);
  const projectId = created.body.project.id;
  const client = await sdkClient(app, key.body.api_key.key);
  const call = (name, args) => client.callTool({ name, arguments: args });

  const check = (result) => {
    if (result.isError) throw new Error(JSON.stringify(result.content));
  };
  const runs = {
    tools_list: () => allTools(client),
    get_timeline: async () => check(await call("get_timeline", { project_id: projectId })),
    render_frame: async () => check(await call("render_frame", { project_id: projectId, frame: 0 })),
  };
  let n = 0;
  runs.apply_commands = async () => {
    n += 1;
    const trackId = `trk_01JB${String(n).padStart(22, "0")}`;
    check(await call("apply_commands", { project_id: projectId, commands: [{ type: "add_track", track: { id: trackId, kind: "video" } }] }));
  };
  // Toolgraph: register and discover the stand-in external server.
  const registered = await owner.client.post(`/v1/orgs/${org}/connectors`, { name: "Bench Stock", url: external.url, auth_method: "bearer", credential: "bench-credential", rate_per_minute: 6000 });
  if (registered.status !== 201) throw new Error(`connector: ${registered.status} ${registered.text}`);
  const connectorId = registered.body.connector.id;
  const discovered = await owner.client.post(`/v1/orgs/${org}/connectors/${connectorId}/discover`);
  if (discovered.status !== 200) throw new Error(`discover: ${discovered.status} ${discovered.text}`);
  const direct = new Client({ name: "bench-direct", version: "1.0.0" });
  await direct.connect(new StreamableHTTPClientTransport(new URL(external.url)));
  runs.toolgraph_external_direct_call = async () => check(await direct.callTool({ name: "search_clips", arguments: { query: "bench" } }));
  runs.toolgraph_proxy_http_call = async () => {
    const res = await owner.client.post(`/v1/orgs/${org}/connectors/${connectorId}/tools/search_clips/call`, { arguments: { query: "bench" } });
    if (res.status !== 200) throw new Error(`proxy: ${res.status} ${res.text}`);
  };
  runs.toolgraph_proxy_mcp_call = async () => check(await call("call_connector_tool", { connector_id: connectorId, tool_name: "search_clips", arguments: { query: "bench" } }));
  runs.toolgraph_discover = async () => {
    const res = await owner.client.post(`/v1/orgs/${org}/connectors/${connectorId}/discover`);
    if (res.status !== 200) throw new Error(`discover: ${res.status} ${res.text}`);
  };

  for (const [name, run] of Object.entries(runs)) {
    await run();
    const samples = [];
    for (let i = 0; i < 30; i++) samples.push(await timed(run));
    process.stderr.write(`${name}: 30 samples\n`);
    const label = name.startsWith("toolgraph_") ? name : `mcp_${name}`;
    console.log(`bench ${label}_p50_ms: ${percentile(samples, 0.5).toFixed(1)} ms`);
    console.log(`bench ${label}_p95_ms: ${percentile(samples, 0.95).toFixed(1)} ms`);
  }

  const catalog = JSON.stringify(await allTools(client)).length;
  const found = JSON.stringify((await call("search_tools", { query: "edit timeline", limit: 1 })).structuredContent).length;
  console.log(`bench mcp_catalog_bytes: ${catalog} bytes`);
  console.log(`bench mcp_search_tools_answer_bytes: ${found} bytes`);
  await client.close();
  await direct.close();
} finally {
  await app.dispose();
  await external.close();
}
