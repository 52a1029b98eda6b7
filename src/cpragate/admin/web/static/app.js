// The cpragate dashboard: plain ES module, no build step, no inline script (strict CSP).
// Every value from the API is put in the page with textContent (never innerHTML).
const KEY = "cpragate.adminKey";
const $ = (sel) => document.querySelector(sel);
const charts = [];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const fmt = new Intl.NumberFormat();
const num = (n) => (n === null || n === undefined ? "—" : fmt.format(n));
function when(t) {
  if (!t) return "—";
  const d = new Date(typeof t === "number" ? t * 1000 : t);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}
function ago(t) {
  if (!t) return "never";
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const label = (s) => String(s).replaceAll("_", " ");
const STATE = { documented: "ok", shadow: "warn", zombie: "danger", unused: "" };

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, opts = {}) {
  const key = sessionStorage.getItem(KEY);
  const r = await fetch(path, { ...opts, headers: { Authorization: `Bearer ${key}`, ...(opts.headers || {}) } });
  if (r.status === 401) { signOut("Your admin key was not accepted."); throw new ApiError(401, "unauthorized"); }
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, (body && body.detail) || `HTTP ${r.status}`);
  return body;
}

// --- login ------------------------------------------------------------------------------
function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const me = await api("/api/whoami");
    $("#whoami").textContent = `${me.name} · ${label(me.role)}`;
    document.body.dataset.role = me.role;
    $("#login").hidden = true;
    $("#app").hidden = false;
    route();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) signOut(`Cannot reach the admin API (${e.message}).`);
  }
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("#key").value.trim();
  $("#key").value = "";
  if (key) signIn(key);
});
$("#logout").addEventListener("click", () => signOut());

// --- pages --------------------------------------------------------------------------------
const pages = { overview, inventory, datamap, consumers, alerts, blocks, audit, dsar };

let current = "";

async function route() {
  const name = (location.hash || "#overview").slice(1).split("?")[0];
  const page = pages[name] ? name : "overview";
  for (const a of document.querySelectorAll(".sidebar a")) a.classList.toggle("active", a.dataset.page === page);
  const main = $("#main");
  if (page !== current) main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  current = page;
  const old = charts.splice(0); // the page's new charts are pushed while it is built
  try {
    const content = await pages[page]();
    for (const c of old) c.destroy();
    main.replaceChildren(...[content].flat());
  } catch (e) {
    for (const c of old) c.destroy();
    if (e instanceof ApiError && e.status === 401) return;
    main.replaceChildren(h("div", { class: "card error" }, `Could not load this page: ${e.message}`));
  }
  refreshBadge();
}
window.addEventListener("hashchange", route);
// The overview follows the traffic: redrawn every 15 s while it is shown.
setInterval(() => {
  if (current === "overview" && !$("#app").hidden && document.visibilityState === "visible") route();
}, 15000);

async function refreshBadge() {
  try {
    const open = await api("/api/alerts?unacknowledged=1&limit=1000");
    const b = $("#alert-badge");
    b.hidden = open.length === 0;
    b.textContent = String(open.length);
  } catch { /* the page itself reports errors */ }
}

const header = (title, sub) => [h("h1", {}, title), h("p", { class: "sub" }, sub)];
const kpi = (labelText, value, note = "", tone = "") =>
  h("div", { class: `card kpi ${tone}` }, h("div", { class: "label" }, labelText), h("div", { class: "value" }, value), h("div", { class: "note" }, note));
const empty = (text) => h("div", { class: "empty" }, text);

function table(columns, rows, rowClass) {
  if (!rows.length) return empty("Nothing to show yet.");
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, c.title)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : "" },
      columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render(r))))))));
}

function chart(type, data, options = {}) {
  const canvas = h("canvas");
  const box = h("div", { class: "chart-box" }, canvas);
  if (window.Chart) {
    queueMicrotask(() => charts.push(new window.Chart(canvas, {
      type, data,
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } }, ...options },
    })));
  } else {
    box.replaceChildren(empty("Charts are unavailable (the chart library was not built)."));
  }
  return box;
}

async function overview() {
  const o = await api("/api/overview");
  // The window is an hour; show it from the first step with traffic (at least 5 minutes).
  const all = o.timeline.points;
  const first = all.findIndex((p) => p.requests || p.alerts);
  const pts = all.slice(first < 0 ? all.length - 30 : Math.min(first, all.length - 30));
  const labels = pts.map((p) => new Date(p.t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  const inv = o.inventory || { endpoints: 0, shadow: 0, zombie: 0, unused: 0 };
  const pi = Object.entries(o.pi_served || {});
  const denialRate = o.requests ? `${((100 * o.denials) / o.requests).toFixed(1)} % of requests` : "";
  return [
    ...header("Overview", "Traffic through the gateway, what it refused, and the personal information it served."),
    h("div", { class: "grid kpis" },
      kpi("Requests", num(o.requests), "since the gateway started"),
      kpi("Refused", num(o.denials), denialRate, o.denials ? "warn" : ""),
      kpi("Open alerts", num(o.alerts.open), `${num(o.alerts.total)} in total`, o.alerts.open ? "danger" : ""),
      kpi("Active blocks", num(o.blocks)),
      kpi("Endpoints", num(inv.endpoints), `${inv.shadow} shadow · ${inv.zombie} zombie · ${inv.unused} unused`, inv.shadow || inv.zombie ? "warn" : ""),
      kpi("SPI findings served", num(o.spi_served), "sensitive personal information (masked by policy)")),
    h("div", { class: "grid charts" },
      h("div", { class: "card" }, h("h2", {}, `Traffic and refusals (per ${o.timeline.step} s)`),
        chart("line", { labels, datasets: [
          { label: "requests", data: pts.map((p) => p.requests), borderColor: "#3b5bdb", backgroundColor: "rgba(59,91,219,.12)", fill: true, pointRadius: 0, cubicInterpolationMode: "monotone" },
          { label: "refused", data: pts.map((p) => p.denials), borderColor: "#e67700", backgroundColor: "rgba(230,119,0,.1)", fill: true, pointRadius: 0, cubicInterpolationMode: "monotone" },
        ] }, { scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true } } })),
      h("div", { class: "card" }, h("h2", {}, "Personal information served, by CPRA category"),
        pi.length ? chart("doughnut", { labels: pi.map(([c]) => label(c)), datasets: [{ data: pi.map(([, n]) => n),
          backgroundColor: ["#3b5bdb", "#f59f00", "#c92a2a", "#2b8a3e", "#7048e8", "#1098ad", "#e64980", "#868e96"] }] })
          : empty("No personal information served yet."))),
    h("div", { class: "grid charts2" },
      h("div", { class: "card" }, h("h2", {}, "Alerts"),
        chart("bar", { labels, datasets: [{ label: "alerts", data: pts.map((p) => p.alerts), backgroundColor: "#c92a2a" }] },
          { scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true, ticks: { precision: 0 } } } })),
      h("div", { class: "card" }, h("h2", {}, "Refusals by reason"),
        table([{ title: "reason (error code)", render: (r) => h("code", {}, r[0]) }, { title: "count", num: true, render: (r) => num(r[1]) }],
          Object.entries(o.denials_by_reason || {})))),
    h("div", { class: "card" }, h("h2", {}, "Busiest routes"),
      table([{ title: "route", render: (r) => r.route }, { title: "requests", num: true, render: (r) => num(r.requests) },
        { title: "5xx", num: true, render: (r) => num(r.errors) }], o.routes)),
  ];
}

function requestBadges(e) {
  const cats = Object.keys(e.request_categories || {});
  if (!cats.length) return null;
  return h("div", { class: "small muted", title: "found in what clients sent (query string, body)" }, "sent by clients: ",
    cats.map((c) => h("span", { class: "badge" }, label(c))), e.request_spi ? h("span", { class: "badge spi" }, `SPI ${num(e.request_spi)}`) : "");
}

function catBadges(cats, spi) {
  const out = Object.entries(cats || {}).map(([c, n]) => h("span", { class: "badge brand", title: `${n} findings` }, label(c)));
  if (spi) out.push(h("span", { class: "badge spi", title: "sensitive personal information findings" }, `SPI ${num(spi)}`));
  return out.length ? out : h("span", { class: "muted" }, "none seen");
}

async function inventory() {
  const inv = await api("/api/inventory");
  const s = inv.summary;
  const filter = h("select", { "aria-label": "state" }, ["all", "documented", "shadow", "zombie", "unused"].map((x) => h("option", { value: x }, x)));
  const search = h("input", { type: "search", placeholder: "filter by path or route", "aria-label": "filter" });
  const holder = h("div");
  const draw = () => {
    const q = search.value.toLowerCase();
    const rows = inv.endpoints.filter((e) => (filter.value === "all" || e.state === filter.value)
      && (!q || e.template.toLowerCase().includes(q) || (e.route || "").toLowerCase().includes(q)));
    holder.replaceChildren(table([
      { title: "endpoint", render: (e) => [h("span", { class: `method ${e.method}` }, e.method), " ", h("code", {}, e.template)] },
      { title: "state", render: (e) => [h("span", { class: `badge ${STATE[e.state]}` }, e.state), e.routed ? "" : h("span", { class: "badge danger" }, "unrouted")] },
      { title: "requests", num: true, render: (e) => num(e.requests) },
      { title: "refused", num: true, render: (e) => num(e.denied) },
      { title: "status mix", render: (e) => Object.entries(e.status_classes).map(([k, n]) => h("span", { class: `badge ${k === "2xx" ? "ok" : k === "5xx" ? "danger" : k === "4xx" ? "warn" : ""}` }, `${k} ${num(n)}`)) },
      { title: "consumers", render: (e) => e.consumers.slice(0, 5).map((c) => h("span", { class: "badge" }, `${c.name} (${num(c.requests)})`)) },
      { title: "personal information", render: (e) => [catBadges(e.categories, e.spi), requestBadges(e)] },
      { title: "last seen", render: (e) => h("span", { title: `first seen ${when(e.first_seen)}` }, ago(e.last_seen)) },
    ], rows));
  };
  filter.addEventListener("change", draw);
  search.addEventListener("input", draw);
  draw();
  return [
    ...header("Endpoint inventory", "Every endpoint observed (paths templated, never stored verbatim), compared with the OpenAPI specs."),
    h("div", { class: "grid kpis" },
      kpi("Endpoints", num(s.endpoints)), kpi("Documented", num(s.documented)),
      kpi("Shadow", num(s.shadow), "called, but in no spec", s.shadow ? "warn" : ""),
      kpi("Zombie", num(s.zombie), "deprecated, still called", s.zombie ? "danger" : ""),
      kpi("Unused", num(s.unused), "documented, never called")),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, search, filter,
        h("span", { class: "muted" }, "Export:"),
        h("button", { onclick: () => download("csv") }, "CSV"),
        h("button", { onclick: () => download("openapi") }, "OpenAPI skeleton")),
      holder),
  ];
}

async function download(format) {
  const key = sessionStorage.getItem(KEY);
  const r = await fetch(`/api/inventory?format=${format}`, { headers: { Authorization: `Bearer ${key}` } });
  const blob = await r.blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: format === "csv" ? "cpragate-inventory.csv" : "cpragate-inventory.openapi.json" });
  document.body.append(a);
  a.click();
  a.remove();
}

async function datamap() {
  const m = await api("/api/datamap");
  const cats = m.categories;
  return [
    ...header("Personal-data map", "Which endpoints serve which categories of personal information (Cal. Civ. Code 1798.140(v)), and to whom."),
    h("div", { class: "card" }, m.endpoints.length ? h("div", { class: "scroll" }, h("table", { class: "matrix" },
      h("thead", {}, h("tr", {}, h("th", {}, "endpoint"), cats.map((c) => h("th", { class: "num" }, label(c))), h("th", { class: "num" }, "SPI"), h("th", {}, "received by"))),
      h("tbody", {}, m.endpoints.map((e) => h("tr", {},
        h("td", {}, h("span", { class: `method ${e.method}` }, e.method), " ", h("code", {}, e.template), " ",
          e.state !== "documented" ? h("span", { class: `badge ${STATE[e.state]}` }, e.state) : ""),
        cats.map((c) => h("td", { class: "cell" }, e.categories[c] ? h("span", { class: "hit", title: `${e.categories[c]} findings` }, num(e.categories[c])) : "")),
        h("td", { class: "cell" }, e.spi ? h("span", { class: "hit spi" }, num(e.spi)) : ""),
        h("td", {}, e.recipients.map((c) => h("span", { class: "badge", title: `${c.responses} responses with personal information` }, c.name)), requestBadges(e)))))))
      : empty("No personal information observed yet. Routes marked personal: true are inspected by the pii filter."),
      h("div", { class: "legend" }, h("span", {}, h("span", { class: "badge brand" }, "n"), " findings of a category"),
        h("span", {}, h("span", { class: "badge spi" }, "n"), " sensitive personal information (SPI, 1798.140(ae))"))),
  ];
}

async function consumers() {
  const list = await api("/api/consumers");
  return [
    ...header("Consumers", "Who calls the API, with which CPRA purpose and keys (public prefixes only), and what they received."),
    h("div", { class: "card" }, table([
      { title: "consumer", render: (c) => [h("strong", {}, c.name), c.disabled ? h("span", { class: "badge danger" }, "disabled") : ""] },
      { title: "purpose", render: (c) => (c.purpose ? h("span", { class: `badge ${c.purpose === "third_party" ? "warn" : "brand"}` }, label(c.purpose)) : "—") },
      { title: "keys", render: (c) => c.keys.map((k) => h("span", { class: `badge ${k.state === "active" ? "ok" : "danger"}`, title: k.source }, `${k.prefix} · ${k.state}`)) },
      { title: "requests", num: true, render: (c) => num(c.traffic.requests) },
      { title: "endpoints", num: true, render: (c) => num(c.traffic.endpoints) },
      { title: "personal information received", render: (c) => [catBadges(Object.fromEntries(c.traffic.categories.map((x) => [x, 1])), 0),
        c.traffic.spi_endpoints ? h("span", { class: "badge spi" }, `SPI from ${c.traffic.spi_endpoints} endpoint(s)`) : ""] },
      { title: "last seen", render: (c) => ago(c.traffic.last_seen) },
    ], list)),
  ];
}

async function alerts() {
  const list = await api("/api/alerts?limit=500");
  const canWrite = document.body.dataset.role === "admin";
  return [
    ...header("Alerts", "Detections (scraping, enumeration, credential stuffing, exfiltration…), newest first. Evidence is a summary, never raw data."),
    h("div", { class: "card" }, table([
      { title: "severity", render: (a) => h("span", { class: `badge ${a.severity === "low" ? "" : a.severity === "medium" ? "warn" : "danger"}` }, a.severity) },
      { title: "detector", render: (a) => h("code", {}, a.detector) },
      { title: "subject", render: (a) => `${a.subject_kind} ${a.subject}` },
      { title: "what happened", render: (a) => [a.summary, h("div", { class: "muted small" }, Object.entries(a.evidence || {}).slice(0, 6).map(([k, v]) => `${label(k)}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "))] },
      { title: "when", render: (a) => h("span", { title: when(a.created_at) }, ago(a.created_at)) },
      { title: "", render: (a) => (a.acknowledged_by ? h("span", { class: "badge ok" }, `ack by ${a.acknowledged_by}`)
        : h("button", { disabled: !canWrite, title: canWrite ? "" : "needs the admin role", onclick: async (ev) => {
          ev.target.disabled = true;
          await api(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { method: "POST" });
          route();
        } }, "Acknowledge")) },
    ], list, (a) => `alert-row ${a.severity}`)),
  ];
}

async function blocks() {
  const list = await api("/api/blocks");
  const canWrite = document.body.dataset.role === "admin";
  return [
    ...header("Blocks", "Consumers and client addresses throttled or blocked by the detectors, until they expire or are lifted."),
    h("div", { class: "card" }, table([
      { title: "subject", render: (b) => [h("span", { class: "badge" }, b.subject_kind), " ", h("code", {}, b.subject)] },
      { title: "action", render: (b) => h("span", { class: `badge ${b.action === "block" ? "danger" : "warn"}` }, b.action) },
      { title: "reason", render: (b) => b.reason },
      { title: "since", render: (b) => ago(b.created_at) },
      { title: "expires", render: (b) => when(b.expires_at) },
      { title: "", render: (b) => h("button", { class: "danger", disabled: !canWrite, onclick: async (ev) => {
        ev.target.disabled = true;
        await api(`/api/blocks/${encodeURIComponent(b.subject_kind)}/${encodeURIComponent(b.subject)}`, { method: "DELETE" });
        route();
      } }, "Lift") },
    ], list)),
  ];
}

async function audit() {
  const f = {
    consumer: h("input", { name: "consumer", placeholder: "e.g. support-app" }),
    route: h("input", { name: "route", placeholder: "/v1/customers/{id}" }),
    subject: h("input", { name: "subject", placeholder: "data subject id" }),
    decision: h("select", { name: "decision" }, ["", "allow", "deny", "error"].map((x) => h("option", { value: x }, x || "any"))),
    since: h("input", { name: "since", placeholder: "24h, 30d, 2026-01-31", value: "24h" }),
    limit: h("input", { name: "limit", type: "number", min: "1", max: "1000", value: "100" }),
  };
  const results = h("div", {}, empty("Search the tamper-evident audit trail: who called what, with which decision."));
  const form = h("form", { id: "audit-form" },
    h("div", { class: "form-grid" }, Object.entries(f).map(([k, el]) => h("label", {}, label(k), el))),
    h("button", { type: "submit", class: "primary" }, "Search"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) q.set(k, el.value.trim());
    results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    try {
      const r = await api(`/api/audit?${q}`);
      results.replaceChildren(h("p", { class: "muted", id: "audit-count" }, `${r.count} event(s) in ${r.ms} ms`), table([
        { title: "time", render: (e) => h("span", { title: e.ts }, when(e.t || e.ts)) },
        { title: "consumer", render: (e) => e.consumer || h("span", { class: "muted" }, "anonymous") },
        { title: "request", render: (e) => [h("span", { class: `method ${e.method}` }, e.method), " ", h("code", {}, e.route || e.path || "—")] },
        { title: "status", num: true, render: (e) => e.status ?? "—" },
        { title: "decision", render: (e) => [h("span", { class: `badge ${e.decision === "allow" ? "ok" : "danger"}` }, e.decision), e.rule ? h("span", { class: "muted small" }, ` ${e.rule}`) : ""] },
        { title: "personal information", render: (e) => catBadges((e.pii || {}).categories, (e.pii || {}).spi) },
        { title: "chain", render: (e) => h("code", { class: "nowrap", title: "instance:sequence in the hash chain" }, `${e.instance}:${e.seq}`) },
      ], r.events));
    } catch (e) {
      results.replaceChildren(h("p", { class: "error" }, e.message));
    }
  });
  return [...header("Audit search", "Events are pseudonymized; a subject id is looked up by its keyed pseudonym."), h("div", { class: "card" }, form, h("hr", { class: "muted" }), results)];
}

async function dsar() {
  const subject = h("input", { name: "subject", placeholder: "e.g. 42", required: true });
  const since = h("input", { name: "since", value: "12mo" });
  const out = h("div");
  const form = h("form", {}, h("div", { class: "form-grid" }, h("label", {}, "data subject id", subject), h("label", {}, "since", since)),
    h("button", { type: "submit", class: "primary" }, "Build report"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(h("p", { class: "muted" }, "Building…"));
    try {
      const r = await api(`/api/dsar?${new URLSearchParams({ subject: subject.value.trim(), since: since.value.trim() })}`);
      out.replaceChildren(
        h("div", { class: "dsar-sum" }, kpi("Disclosures", num(r.disclosures), `${r.period.since.slice(0, 10)} – ${r.period.until.slice(0, 10)}`),
          kpi("Refused requests", num(r.refused_requests), "nothing disclosed"), kpi("Recipients", num(r.recipients.length))),
        h("h2", {}, "Categories disclosed"), catBadges(r.categories, 0),
        h("h2", {}, "Who received personal information about this consumer"),
        table([{ title: "recipient", render: (x) => h("strong", {}, x.consumer) }, { title: "purpose", render: (x) => label(x.purpose) },
          { title: "categories", render: (x) => catBadges(x.categories, x.spi) }, { title: "times", num: true, render: (x) => num(x.requests) },
          { title: "first", render: (x) => x.first }, { title: "last", render: (x) => x.last }, { title: "through", render: (x) => x.routes.join(", ") }], r.recipients));
    } catch (e) {
      out.replaceChildren(h("p", { class: "error" }, e.message));
    }
  });
  return [...header("Right to know", "The CPRA right-to-know report (1798.110, 1798.115) for one data subject, from the audit trail."), h("div", { class: "card" }, form, out)];
}

// --- start ------------------------------------------------------------------------------
if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
else signOut();
