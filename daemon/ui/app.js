// svckitd's dashboard: plain JavaScript, no build step, no third-party code. Everything shown comes
// from svckitd's own HTTP API on the same origin; the registry view stays live through one long-poll
// watch (GET /v1/watch), the other views poll. Untrusted text (names, tags, metadata, messages) is
// only ever set as text, never parsed as HTML.

const TOKEN_KEY = "svckit-token";
const main = document.getElementById("main");
const live = document.getElementById("live");

// ---- DOM helpers ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function table(caption, headers, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: "muted" }, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: x.num ? "num" : (x.narrow ? "hide-narrow" : null) }, x.label || x)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none")))));
}

function badge(text) {
  return h("span", { class: "badge " + text }, text);
}

function setView(title, ...content) {
  document.title = title + " — svckitd";
  main.replaceChildren(h("h2", {}, title), ...content);
}

function status(text, kind) {
  live.textContent = text;
  live.className = "live" + (kind ? " " + kind : "");
}

// ---- API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = {};
  if (token()) headers["X-Svckit-Token"] = token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const text = await res.text();
  if (!res.ok && res.status !== 304) {
    let message = res.status + " " + res.statusText;
    try {
      const e = JSON.parse(text).error;
      if (e) message = e.message + (e.field ? " (" + e.field + ")" : "");
    } catch (_) { /* not JSON */ }
    if (res.status === 401 || res.status === 403) message += " — enter an ACL token that may read this";
    throw new ApiError(res.status, message);
  }
  return { status: res.status, headers: res.headers, text, json: () => (text ? JSON.parse(text) : null) };
}

function errorBox(e) {
  return h("p", { class: "error-box", role: "alert" }, e.message || String(e));
}

// ---- The registry, kept live by one watch --------------------------------------------------------

const registry = { index: 0, synced: false, services: new Map(), generation: 0 };
let watchAbort = null;

function applyWatch(answer) {
  if (answer.reset) {
    registry.services = new Map();
    for (const inst of answer.instances || []) putInstance(inst);
  }
  for (const ev of answer.events || []) {
    if (ev.type === "deregistered") removeInstance(ev.instance);
    else putInstance(ev.instance);
  }
  registry.index = answer.index;
}

function putInstance(inst) {
  if (!registry.services.has(inst.service)) registry.services.set(inst.service, new Map());
  registry.services.get(inst.service).set(inst.id, inst);
}

function removeInstance(inst) {
  const svc = registry.services.get(inst.service);
  if (!svc) return;
  svc.delete(inst.id);
  if (svc.size === 0) registry.services.delete(inst.service);
}

async function watchLoop() {
  if (watchAbort) watchAbort.abort();
  const abort = new AbortController();
  watchAbort = abort;
  registry.index = 0;
  registry.synced = false;
  let backoff = 500;
  while (!abort.signal.aborted) {
    try {
      const res = await api("/v1/watch?index=" + registry.index + "&wait=30s", { signal: abort.signal });
      const answer = res.json();
      const changed = answer.reset || (answer.events && answer.events.length) || !registry.synced;
      applyWatch(answer);
      registry.synced = true;
      backoff = 500;
      const stale = res.headers.get("X-Svckit-Stale") === "true";
      // Changes happened but none is visible: likely ACLs hiding them from an anonymous caller.
      const hidden = !token() && registry.services.size === 0 && registry.index > 1;
      status("Live · registry index " + registry.index + (stale ? " · stale: this node lost its store" : "") +
        (hidden ? " · nothing visible: if ACLs are on, enter an ACL token" : ""), stale ? "stale" : "");
      if (changed) {
        registry.generation++;
        onRegistryChange();
      }
    } catch (e) {
      if (abort.signal.aborted) return;
      status("Watch failed: " + e.message + " — retrying", "error");
      if (e.status === 401 || e.status === 403) {
        registry.services = new Map();
        registry.synced = true;
        onRegistryChange();
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }
}

// ---- Views ---------------------------------------------------------------------------------------

let poller = null;  // the current view's periodic refresh
let current = { view: "", arg: "" };

function onRegistryChange() {
  if (current.view === "services") viewServices();
  if (current.view === "service") viewService(current.arg, false);
}

function summary(instances) {
  const list = [...instances.values()];
  const tags = new Set(), zones = new Set();
  for (const i of list) {
    (i.tags || []).forEach((t) => tags.add(t));
    if (i.zone) zones.add(i.zone);
  }
  return { list, healthy: list.filter((i) => i.status === "healthy").length, tags: [...tags].sort(), zones: [...zones].sort() };
}

function viewServices() {
  if (!registry.synced) return setView("Services", h("p", { class: "muted" }, "Loading…"));
  const names = [...registry.services.keys()].sort();
  const rows = names.map((name) => {
    const s = summary(registry.services.get(name));
    return h("tr", { "data-service": name },
      h("th", { scope: "row" }, h("a", { href: "#/services/" + encodeURIComponent(name) }, name)),
      h("td", { class: "num" }, s.list.length),
      h("td", { class: "num" }, s.healthy, s.healthy < s.list.length ? h("span", { class: "muted" }, " / " + s.list.length) : ""),
      h("td", {}, s.tags.map((t) => h("span", { class: "tag" }, t))),
      h("td", { class: "hide-narrow" }, s.zones.join(", ")));
  });
  const total = names.reduce((n, name) => n + registry.services.get(name).size, 0);
  setView("Services",
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "muted" }, "Services"), h("div", { class: "big" }, names.length)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Instances"), h("div", { class: "big", id: "instance-count" }, total))),
    table("Registered services (live)", ["Service", { label: "Instances", num: true }, { label: "Healthy", num: true }, "Tags", { label: "Zones", narrow: true }], rows));
}

let healthCache = { service: "", data: null, error: null };

async function loadHealth(service) {
  try {
    const res = await api("/v1/health/" + encodeURIComponent(service));
    healthCache = { service, data: res.json(), error: null };
  } catch (e) {
    healthCache = { service, data: null, error: e.status === 404 ? null : e };
  }
}

// The gateway's view of the service: outlier ejections and breakers per instance. null when the
// gateway is off (404) or the token may not read it.
let gatewayCache = { service: "", data: null };

async function loadGatewayView(service) {
  try {
    const res = await api("/v1/gateway/services/" + encodeURIComponent(service));
    gatewayCache = { service, data: res.json() };
  } catch (e) {
    gatewayCache = { service, data: null };
  }
}

function gatewayView(service) {
  return gatewayCache.service === service && gatewayCache.data && gatewayCache.data.active ? gatewayCache.data : null;
}

function gatewayCell(view, id) {
  const g = (view.instances || []).find((i) => i.id === id);
  if (!g) return h("span", { class: "muted" }, "not balanced yet");
  const o = g.outlier;
  const parts = [];
  if (o && o.ejected) {
    parts.push(h("span", { class: "badge bad" }, "ejected"), " ", o.reason.replace(/_/g, " "),
      ", back in " + Math.ceil(o.remaining_ms / 1000) + " s");
  } else {
    parts.push(h("span", { class: "badge ok" }, "in rotation"));
  }
  if (o && o.ejections) parts.push(h("div", { class: "muted" }, o.ejections + (o.ejections === 1 ? " ejection" : " ejections") + " so far"));
  if (g.breaker !== "closed") parts.push(h("div", {}, "breaker ", badge(g.breaker)));
  return parts;
}

function checksOf(service, id) {
  if (healthCache.service !== service || !healthCache.data) return null;
  return (healthCache.data.instances || []).find((i) => i.id === id) || null;
}

function timeline(history) {
  return h("span", { class: "timeline", role: "img", "aria-label": history.filter((r) => r.ok).length + " of " + history.length + " recent checks passed" },
    history.map((r) => h("span", { class: r.ok ? "ok" : "bad", title: r.at + " " + (r.ok ? "ok" : "failed") + (r.message ? ": " + r.message : "") + " (" + r.latency_ms + " ms)" })));
}

function instanceRow(service, inst, gateway) {
  const health = checksOf(service, inst.id);
  const checks = (inst.checks || []).map((c, n) => {
    const state = health && health.checks && health.checks[n];
    return h("div", {},
      h("span", { class: "tag" }, c.type), " ", c.target || (c.type === "http" ? c.path : ""), " every ", c.interval,
      state ? [" ", badge(state.state), " ", timeline(state.history || [])] : "");
  });
  return h("tr", { "data-instance": inst.id },
    h("th", { scope: "row" }, inst.id),
    h("td", {}, (inst.host.includes(":") ? "[" + inst.host + "]" : inst.host) + ":" + inst.port),
    h("td", {}, badge(inst.status)),
    h("td", { class: "num" }, inst.weight),
    h("td", { class: "hide-narrow" }, inst.zone || ""),
    h("td", {}, (inst.tags || []).map((t) => h("span", { class: "tag" }, t))),
    h("td", { class: "hide-narrow" }, Object.entries(inst.metadata || {}).map(([k, v]) => h("div", {}, h("code", {}, k), " = ", v))),
    h("td", {}, checks.length ? checks : h("span", { class: "muted" }, inst.ttl && inst.ttl !== "0s" ? "TTL " + inst.ttl : "none")),
    gateway ? h("td", { "data-gateway": inst.id }, gatewayCell(gateway, inst.id)) : "");
}

async function viewService(service, reload = true) {
  // Only services with active checks have health (asking for another would answer 404).
  const checked = [...(registry.services.get(service) || new Map()).values()].some((i) => (i.checks || []).length);
  if (reload) await Promise.all([checked ? loadHealth(service) : null, loadGatewayView(service)]);
  if (current.view !== "service" || current.arg !== service) return;
  const gateway = gatewayView(service);
  const instances = registry.services.get(service);
  const list = instances ? [...instances.values()].sort((a, b) => a.id.localeCompare(b.id)) : [];
  const agg = healthCache.service === service && healthCache.data ? healthCache.data : null;
  setView("Service " + service,
    h("p", {}, h("a", { href: "#/services" }, "← all services"),
      agg ? [" · checks: ", badge(agg.status), " ", agg.healthy + " healthy, " + agg.unhealthy + " unhealthy, " + agg.unknown + " unknown"] : "",
      gateway ? [" · gateway: ", h("span", { id: "gateway-rotation" }, gateway.balancer.healthy + " of " + gateway.balancer.hosts + " in rotation"),
        gateway.balancer.panic ? [" ", h("span", { class: "badge bad" }, "panic")] : "",
        gateway.breaker !== "closed" ? [" · service breaker ", badge(gateway.breaker)] : ""] : ""),
    healthCache.error ? errorBox(healthCache.error) : "",
    registry.synced && !instances ? h("p", { class: "muted" }, "No instance of " + service + " is registered.") : "",
    table("Instances (live)", ["Instance", "Address", "Status", { label: "Weight", num: true }, { label: "Zone", narrow: true }, "Tags", { label: "Metadata", narrow: true }, "Checks and recent results"].concat(gateway ? ["Gateway (outlier detection, breaker)"] : []),
      list.map((i) => instanceRow(service, i, gateway))));
}

// Gateway: rates and quantiles computed from successive scrapes of svckitd's /metrics.
const gatewaySamples = [];  // {t, requests: {service: {code: n}}, buckets: {service: {le: n}}}

function parseMetrics(text) {
  const sample = { t: Date.now(), requests: {}, buckets: {} };
  for (const line of text.split("\n")) {
    if (!line.startsWith("svckit_gateway_request")) continue;
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    const value = Number(m[3]);
    if (m[1] === "svckit_gateway_requests_total") {
      (sample.requests[labels.service] ||= {})[labels.code] = value;
    } else if (m[1] === "svckit_gateway_request_duration_seconds_bucket") {
      (sample.buckets[labels.service] ||= {})[labels.le] = value;
    }
  }
  return sample;
}

function quantile(q, from, to) {
  const les = Object.keys(to || {}).sort((a, b) => (a === "+Inf" ? 1 : b === "+Inf" ? -1 : Number(a) - Number(b)));
  const counts = les.map((le) => (to[le] || 0) - ((from || {})[le] || 0));
  const total = counts[counts.length - 1];
  if (!total) return null;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (counts[i] >= rank) {
      if (les[i] === "+Inf") return Number(les[i - 1] || 0);
      const lower = i === 0 ? 0 : Number(les[i - 1]);
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return lower + (Number(les[i]) - lower) * (inBucket ? (rank - below) / inBucket : 1);
    }
  }
  return null;
}

function sum(obj, filter = () => true) {
  return Object.entries(obj || {}).reduce((n, [k, v]) => n + (filter(k) ? v : 0), 0);
}

function sparkline(points) {
  const max = Math.max(1e-9, ...points);
  const coords = points.map((p, i) => (points.length === 1 ? 0 : (i * 120) / (points.length - 1)).toFixed(1) + "," + (27 - (p / max) * 25).toFixed(1)).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 28");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "requests per second over the last minutes, now " + (points[points.length - 1] || 0).toFixed(1));
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coords);
  svg.append(line);
  return svg;
}

function fmtMs(seconds) {
  return seconds === null ? "–" : (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1) + " ms";
}

async function viewGateway() {
  let error = null;
  try {
    const res = await api("/metrics");
    gatewaySamples.push(parseMetrics(res.text));
    while (gatewaySamples.length > 2 && gatewaySamples[0].t < Date.now() - 10 * 60 * 1000) gatewaySamples.shift();
  } catch (e) {
    error = e;
  }
  if (current.view !== "gateway") return;
  const last = gatewaySamples[gatewaySamples.length - 1];
  // Rates over the last minute (or what we have), history over the kept ten minutes.
  const windowStart = gatewaySamples.find((s) => s.t >= Date.now() - 60 * 1000 - 1) || gatewaySamples[0];
  const services = last ? Object.keys(last.requests).sort() : [];
  const rows = services.map((service) => {
    const dt = last && windowStart && last !== windowStart ? (last.t - windowStart.t) / 1000 : 0;
    const total = sum(last.requests[service]) - sum(windowStart.requests[service]);
    const errors = sum(last.requests[service], (c) => c.startsWith("5")) - sum(windowStart.requests[service], (c) => c.startsWith("5"));
    const rates = [];
    for (let i = 1; i < gatewaySamples.length; i++) {
      const a = gatewaySamples[i - 1], b = gatewaySamples[i];
      rates.push((sum(b.requests[service]) - sum(a.requests[service])) / Math.max(0.001, (b.t - a.t) / 1000));
    }
    return h("tr", { "data-service": service },
      h("th", { scope: "row" }, service),
      h("td", { class: "num" }, dt ? (total / dt).toFixed(1) : "–"),
      h("td", { class: "num" }, total > 0 ? ((100 * errors) / total).toFixed(1) + " %" : "–"),
      h("td", { class: "num" }, fmtMs(quantile(0.5, windowStart.buckets[service], last.buckets[service]))),
      h("td", { class: "num" }, fmtMs(quantile(0.99, windowStart.buckets[service], last.buckets[service]))),
      h("td", { class: "num" }, sum(last.requests[service])),
      h("td", { class: "hide-narrow" }, rates.length ? sparkline(rates) : ""));
  });
  setView("Gateway",
    error ? errorBox(error) : "",
    h("p", { class: "muted" }, "Per service, over the last minute (from svckitd's /metrics, sampled every 3 s while this page is open)."),
    table("Gateway traffic", ["Service", { label: "req/s", num: true }, { label: "5xx", num: true }, { label: "p50", num: true }, { label: "p99", num: true }, { label: "Total", num: true }, { label: "Last minutes", narrow: true }], rows));
}

// Config: the document, its history, a diff between two versions, rollback after confirmation.
const configState = { from: null, to: null };

function lineDiff(a, b) {
  // Longest common subsequence over lines; fine for documents of a few thousand lines.
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { out.push(["-", x[i]]); i++; }
    else { out.push(["+", y[j]]); j++; }
  }
  return out;
}

function confirmDialog(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

async function viewConfig(message) {
  let doc, history, error = null;
  try {
    const [d, hist] = await Promise.all([api("/v1/config"), api("/v1/config/history")]);
    doc = { version: d.headers.get("X-Svckit-Config-Version"), body: d.json() };
    history = hist.json().versions || [];
  } catch (e) {
    error = e;
  }
  if (current.view !== "config") return;
  if (error) return setView("Config", errorBox(error));
  const versions = history.map((v) => v.version);
  if (!versions.includes(configState.from)) configState.from = versions.length > 1 ? versions[versions.length - 2] : versions[0];
  if (!versions.includes(configState.to)) configState.to = versions[versions.length - 1];
  const options = (selected) => history.map((v) => h("option", { value: v.version, selected: v.version === selected }, "v" + v.version + " — " + v.reason));
  const diffOut = h("pre", { class: "diff", id: "diff", "aria-label": "Differences between the two versions" });
  const showDiff = async () => {
    diffOut.textContent = "…";
    try {
      const [a, b] = await Promise.all([api("/v1/config/history/" + configState.from), api("/v1/config/history/" + configState.to)]);
      const lines = lineDiff(JSON.stringify(a.json().document, null, 2), JSON.stringify(b.json().document, null, 2));
      diffOut.replaceChildren(...lines.map(([k, text]) => h("span", { class: k === "+" ? "add" : k === "-" ? "del" : null }, k + " " + text + "\n")));
    } catch (e) {
      diffOut.replaceChildren(errorBox(e));
    }
  };
  const rows = [...history].reverse().map((v) =>
    h("tr", { "data-version": v.version },
      h("th", { scope: "row" }, "v" + v.version, String(v.version) === doc.version ? " (current)" : ""),
      h("td", {}, new Date(v.applied_at * 1000).toLocaleString()),
      h("td", {}, v.reason),
      h("td", {}, String(v.version) === doc.version ? "" : h("button", {
        type: "button", class: "danger", "aria-label": "Roll back to version " + v.version,
        onclick: async () => {
          if (!(await confirmDialog("Roll back the configuration to version " + v.version + "? This stores its document as a new version; every service following the config store applies it."))) return;
          try {
            const res = await api("/v1/config/rollback/" + v.version, { method: "POST" });
            viewConfig("Rolled back to version " + v.version + ": now version " + res.json().version + ".");
          } catch (e) {
            viewConfig("Rollback failed: " + e.message);
          }
        },
      }, "Roll back"))));
  setView("Config",
    message ? h("p", { role: "status", class: "card", id: "config-message" }, message) : "",
    h("p", { class: "muted" }, "Current version " + (doc.version || "0") + "."),
    h("div", { class: "table-wrap" }, h("pre", { class: "diff", id: "document", "aria-label": "Current document" }, JSON.stringify(doc.body, null, 2))),
    h("h3", {}, "Compare two versions"),
    h("div", { class: "row" },
      h("label", {}, "From", h("select", { id: "diff-from", onchange: (e) => { configState.from = Number(e.target.value); showDiff(); } }, options(configState.from))),
      h("label", {}, "To", h("select", { id: "diff-to", onchange: (e) => { configState.to = Number(e.target.value); showDiff(); } }, options(configState.to)))),
    diffOut,
    table("History (newest first)", ["Version", "Applied", "Reason", "Action"], rows));
  if (history.length) showDiff();
}

async function viewCluster() {
  let data, error = null;
  try {
    data = (await api("/v1/cluster/members")).json();
  } catch (e) {
    error = e;
  }
  if (current.view !== "cluster") return;
  if (error) return setView("Cluster", errorBox(error));
  const store = data.store;
  setView("Cluster",
    h("p", {}, "Mode: ", h("strong", {}, data.mode), store ? [" · store ", store.url, " ", badge(store.connected ? "ok" : "bad"), " revision " + store.revision] : ""),
    table("Nodes", ["Node", "API", "Gateway", { label: "Checked instances", num: true }, "Started"],
      (data.members || []).map((m) => h("tr", {},
        h("th", { scope: "row" }, m.name, m.self ? " (this node)" : ""),
        h("td", {}, m.api), h("td", {}, m.gateway || "–"),
        h("td", { class: "num" }, m.checked_instances ?? "–"),
        h("td", {}, m.started || "–")))));
}

// Traces: the recent traces svckitd holds (received over OTLP, and its gateway's own), and one trace
// as a waterfall: spans in start order, indented under their parent, bars on one time axis.
async function viewTraces(service) {
  let data, error = null;
  try {
    data = (await api("/v1/traces?limit=100" + (service ? "&service=" + encodeURIComponent(service) : ""))).json();
  } catch (e) {
    error = e;
  }
  if (current.view !== "traces") return;
  if (error) return setView("Traces", errorBox(error));
  const rows = data.traces.map((t) => h("tr", { "data-trace": t.trace_id },
    h("th", { scope: "row" }, h("a", { href: "#/traces/" + t.trace_id }, t.name)),
    h("td", {}, t.service),
    h("td", {}, new Date(t.start_unix_ms).toLocaleTimeString()),
    h("td", { class: "num" }, t.duration_ms.toFixed(2) + " ms"),
    h("td", { class: "num" }, t.spans),
    h("td", {}, t.errors ? badge("bad") : badge("ok")),
    h("td", { class: "hide-narrow" }, t.services.join(", "))));
  setView("Traces",
    h("p", { class: "muted" }, "The most recent traces svckitd received at POST /v1/traces (OTLP/HTTP JSON) and its gateway's own. Refreshed every 5 s."),
    table("Recent traces (newest first)", ["Root span", "Service", "Started", { label: "Duration", num: true }, { label: "Spans", num: true }, "Status", { label: "Services", narrow: true }], rows));
}

async function viewTrace(id) {
  let data, error = null;
  try {
    data = (await api("/v1/traces/" + encodeURIComponent(id))).json();
  } catch (e) {
    error = e;
  }
  if (current.view !== "trace" || current.arg !== id) return;
  if (error) return setView("Trace", h("p", {}, h("a", { href: "#/traces" }, "← all traces")), errorBox(error));
  const spans = data.spans;
  // Services export their spans in batches, so a trace fills in over a few seconds: the view is
  // refreshed, and redrawn only when spans arrived (an opened attributes list stays open).
  if (current.spans === spans.length) return;
  current.spans = spans.length;
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : "";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const start = Math.min(...spans.map((s) => s.start_unix_ms));
  const end = Math.max(...spans.map((s) => s.start_unix_ms + s.duration_ms));
  const total = Math.max(end - start, 0.001);
  const ordered = [];
  const walk = (parent, depth) => {
    for (const s of (children.get(parent) || []).sort((a, b) => a.start_unix_ms - b.start_unix_ms)) {
      ordered.push([s, depth]);
      walk(s.span_id, depth + 1);
    }
  };
  walk("", 0);
  const services = [...new Set(spans.map((s) => s.service))];
  const rows = ordered.map(([s, depth]) => {
    const left = ((s.start_unix_ms - start) / total) * 100;
    const width = Math.max((s.duration_ms / total) * 100, 0.3);
    const error = s.status.code === "error";
    return h("tr", { "data-span": s.span_id, "data-service": s.service },
      h("th", { scope: "row" },
        h("span", { class: "indent", "aria-hidden": "true" }, "\u00a0\u00a0".repeat(depth)),
        s.name, " ", h("span", { class: "kind" }, s.kind),
        h("details", { class: "attrs" }, h("summary", {}, "attributes"),
          h("dl", {}, Object.entries(s.attributes).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]),
            s.status.message ? [h("dt", {}, "status"), h("dd", {}, s.status.message)] : ""))),
      h("td", {}, s.service),
      h("td", { class: "num" }, s.duration_ms.toFixed(3) + " ms"),
      h("td", { class: "bar-cell" },
        h("div", { class: "bar-track", role: "img", "aria-label": "starts at " + (s.start_unix_ms - start).toFixed(3) + " ms, lasts " + s.duration_ms.toFixed(3) + " ms" + (error ? ", failed" : "") },
          svgBar(left, width, error))));
  });
  setView("Trace " + id.slice(0, 8),
    h("p", {}, h("a", { href: "#/traces" }, "← all traces"), " · ", spans.length + " spans across " + services.length + " services (" + services.join(", ") + ") · " + total.toFixed(2) + " ms"),
    h("div", { class: "table-wrap" }, h("table", { class: "waterfall" },
      h("caption", { class: "muted" }, "Spans (indented under their parent)"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Span"), h("th", { scope: "col" }, "Service"), h("th", { scope: "col", class: "num" }, "Duration"), h("th", { scope: "col" }, "Timeline"))),
      h("tbody", {}, rows))));
}

// A bar positioned with SVG attributes (the page's CSP allows no inline style).
function svgBar(left, width, error) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 10");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", "14");
  const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
  rect.setAttribute("x", String(Math.min(left, 99.7)));
  rect.setAttribute("y", "1");
  rect.setAttribute("width", String(Math.min(width, 100 - Math.min(left, 99.7))));
  rect.setAttribute("height", "8");
  rect.setAttribute("class", error ? "bar-rect error" : "bar-rect");
  svg.append(rect);
  return svg;
}

// ---- Routing -------------------------------------------------------------------------------------

function route() {
  clearInterval(poller);
  poller = null;
  const hash = location.hash.replace(/^#\/?/, "");
  const [section, ...rest] = hash.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.section === (section || "services")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (section === "services" && arg) {
    current = { view: "service", arg };
    viewService(arg);
    poller = setInterval(() => viewService(arg), 3000);
  } else if (section === "gateway") {
    current = { view: "gateway", arg: "" };
    viewGateway();
    poller = setInterval(viewGateway, 3000);
  } else if (section === "traces" && arg) {
    current = { view: "trace", arg, spans: -1 };
    viewTrace(arg);
    poller = setInterval(() => viewTrace(arg), 2000);
  } else if (section === "traces") {
    current = { view: "traces", arg: "" };
    viewTraces();
    poller = setInterval(viewTraces, 5000);
  } else if (section === "config") {
    current = { view: "config", arg: "" };
    viewConfig();
  } else if (section === "cluster") {
    current = { view: "cluster", arg: "" };
    viewCluster();
    poller = setInterval(viewCluster, 5000);
  } else {
    current = { view: "services", arg: "" };
    viewServices();
  }
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = document.getElementById("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  document.getElementById("token").value = "";
  document.getElementById("token").placeholder = value ? "token set" : "none (anonymous)";
  watchLoop();
  route();
});
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("token").placeholder = "none (anonymous)";
  watchLoop();
  route();
});
if (token()) document.getElementById("token").placeholder = "token set";
window.addEventListener("hashchange", () => {
  route();
  main.focus();
});
watchLoop();
route();
