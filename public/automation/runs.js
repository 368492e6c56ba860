// The run history page: a workspace's workflows, their runs, and one run's steps with status,
// attempts, timing, inputs, outputs and errors. Reads the API with the session cookie and
// refreshes while a run is still going.

const $ = (id) => document.getElementById(id);
const state = { org: null, workflow: null, run: null, timer: null };

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = new Error(body?.error?.message ?? `request failed (${res.status})`);
    error.status = res.status;
    throw error;
  }
  return body;
}

function notice(message) {
  $("notice").hidden = !message;
  $("notice").textContent = message ?? "";
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

const badge = (status) => el("span", { className: `badge ${status}` }, status);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const json = (value) => (value === null || value === undefined ? "" : el("pre", {}, JSON.stringify(value, null, 2)));

function pick(list, button) {
  for (const other of list.querySelectorAll("button")) other.removeAttribute("aria-current");
  button.setAttribute("aria-current", "true");
}

async function loadWorkflows() {
  const list = $("workflows");
  list.replaceChildren();
  $("runs").replaceChildren();
  const { workflows } = await api(`/v1/orgs/${state.org}/workflows`);
  if (!workflows.length) list.append(el("li", { className: "muted" }, "No workflows yet."));
  for (const workflow of workflows) {
    const button = el("button", {}, el("strong", {}, workflow.name), el("br"),
      el("span", { className: "muted" }, `${workflow.trigger.type}${workflow.trigger.event ? ` · ${workflow.trigger.event}` : ""}${workflow.trigger.cron ? ` · ${workflow.trigger.cron}` : ""} · v${workflow.version} · ${workflow.status}`));
    button.onclick = () => { pick(list, button); state.workflow = workflow.id; loadRuns(); };
    list.append(el("li", {}, button));
  }
}

async function loadRuns() {
  const list = $("runs");
  list.replaceChildren();
  const { runs } = await api(`/v1/orgs/${state.org}/workflows/${state.workflow}/runs?limit=50`);
  if (!runs.length) list.append(el("li", { className: "muted" }, "No runs yet."));
  for (const run of runs) {
    const button = el("button", {}, badge(run.status), " ", el("span", {}, when(run.created_at)), el("br"),
      el("span", { className: "muted" }, `${run.trigger_kind} · v${run.version}${run.duration_ms != null ? ` · ${run.duration_ms} ms` : ""}`));
    button.onclick = () => { pick(list, button); state.run = run.id; loadRun(); };
    list.append(el("li", {}, button));
  }
}

async function loadRun() {
  clearTimeout(state.timer);
  const { run } = await api(`/v1/orgs/${state.org}/workflows/${state.workflow}/runs/${state.run}`);
  const rows = run.steps.map((step) =>
    el("tr", {},
      el("td", {}, el("strong", {}, step.key), el("br"), el("span", { className: "muted" }, step.type)),
      el("td", {}, badge(step.status)),
      el("td", {}, step.attempts),
      el("td", {}, step.duration_ms != null ? `${step.duration_ms} ms` : step.wait_until ? `waits until ${when(step.wait_until)}` : "—"),
      el("td", {}, json(step.input)),
      el("td", {}, json(step.output)),
      el("td", {}, json(step.error))));
  $("run").replaceChildren(
    el("p", {}, badge(run.status), ` ${run.id} · ${run.trigger_kind} · version ${run.version} · started ${when(run.started_at)} · ended ${when(run.finished_at)}`),
    run.error ? el("p", {}, `Failed at ${run.error.step ?? "?"}: ${run.error.message}`) : "",
    el("details", {}, el("summary", {}, "Trigger"), json(run.trigger)),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["Step", "Status", "Attempts", "Time", "Input", "Output", "Error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
  if (["queued", "running", "paused"].includes(run.status)) state.timer = setTimeout(() => loadRun().catch((e) => notice(e.message)), 2000);
}

async function main() {
  try {
    const me = await api("/v1/me");
    const select = $("org");
    for (const { org } of me.memberships) select.append(el("option", { value: org.id }, org.name));
    state.org = select.value;
    select.onchange = () => { state.org = select.value; loadWorkflows().catch((e) => notice(e.message)); };
    await loadWorkflows();
  } catch (error) {
    notice(error.status === 401 ? "Sign in to Creator OS first, then come back to this page." : error.message);
  }
}

main();
