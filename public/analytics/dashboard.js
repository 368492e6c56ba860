// The creator dashboard: GET /v1/orgs/{org}/analytics/dashboard drawn as figures with small
// SVG charts (no framework). Signed in with the app's session cookie.
const orgSelect = document.getElementById("org");
const daysSelect = document.getElementById("days");
const cards = document.getElementById("cards");
const status = document.getElementById("status");

async function get(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

/** A bar chart of daily values as SVG. */
function bars(values, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 300;
  const height = 70;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const max = Math.max(1, ...values);
  const step = width / Math.max(1, values.length);
  values.forEach((value, i) => {
    const barHeight = (value / max) * (height - 4);
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(i * step + 1));
    rect.setAttribute("y", String(height - barHeight));
    rect.setAttribute("width", String(Math.max(1, step - 2)));
    rect.setAttribute("height", String(barHeight));
    rect.setAttribute("fill", "var(--accent)");
    rect.setAttribute("rx", "1.5");
    const title = document.createElementNS(ns, "title");
    title.textContent = String(value);
    rect.append(title);
    svg.append(rect);
  });
  return svg;
}

function money(minor, currency) {
  if (!currency) return "—";
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
}

function card(title, figure, chart) {
  return el("section", { class: "card" }, el("h2", {}, title), el("div", { class: "figure" }, figure), chart ?? "");
}

function table(title, rows) {
  const body = el("tbody");
  for (const [name, value] of rows) body.append(el("tr", {}, el("td", {}, name), el("td", { class: "n" }, value)));
  if (!rows.length) body.append(el("tr", {}, el("td", {}, "Nothing yet")));
  return el("section", { class: "card" }, el("h2", {}, title), el("table", {}, body));
}

async function load() {
  const org = orgSelect.value;
  if (!org) return;
  status.textContent = "Loading…";
  try {
    const d = await get(`/v1/orgs/${encodeURIComponent(org)}/analytics/dashboard?days=${daysSelect.value}`);
    cards.replaceChildren(
      card("Views", d.views.total.toLocaleString(), bars(d.views.values, "views per day")),
      card("Unique viewers", d.unique_viewers.toLocaleString()),
      card("Renders", d.renders.total.toLocaleString(), bars(d.renders.values, "renders per day")),
      card("Sales", d.sales.total.toLocaleString(), bars(d.sales.values, "sales per day")),
      card("Revenue", money(d.revenue.total, d.currency), bars(d.revenue.values, "revenue per day")),
      table("Top products", d.top_products.map((p) => [p.title, money(p.revenue, p.currency)])),
      table("Top events", d.top_events.map((e) => [e.value ?? "—", e.count.toLocaleString()])),
    );
    status.textContent = `${d.days[0].slice(0, 10)} to ${d.days[d.days.length - 1].slice(0, 10)} (UTC)`;
  } catch (error) {
    status.textContent = `Could not load the dashboard: ${error.message}`;
  }
}

async function start() {
  try {
    const me = await get("/v1/me");
    for (const membership of me.memberships ?? []) {
      const org = membership.org ?? membership;
      orgSelect.append(el("option", { value: org.id }, org.name ?? org.id));
    }
    const saved = localStorage.getItem("cos.org");
    if (saved && [...orgSelect.options].some((o) => o.value === saved)) orgSelect.value = saved;
    await load();
  } catch (error) {
    status.textContent = `Sign in first: ${error.message}`;
  }
}

orgSelect.addEventListener("change", load);
daysSelect.addEventListener("change", load);
start();
