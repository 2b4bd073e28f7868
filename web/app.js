// The web UI's core (protocol.md §5 `GET /`, docs/decisions/0023): state, REST, the
// /v1/stream WebSocket (protocol.md §6), the router and sign-in. No framework, no CDN (the hosts
// have no internet): fleet-cmdr embeds every file of web/ at build time and serves it at /ui/<name>.
// The files share one global scope, loaded in order by index.html: this one first, then one file
// per concern (jobs.js, enqueue.js, rollouts.js, schedules.js, chart.js, fleet.js, host.js), each adding its views to VIEWS and
// its stream listeners to EVENT_LISTENERS. Snapshots come over REST once; every change after that
// comes through the stream, never by polling.
"use strict";
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const STATUS_OF_EVENT = { "job.created": "CREATED", "job.queued": "QUEUED", "job.running": "RUNNING",
  "job.completed": "COMPLETED", "job.failed": "FAILED", "job.cancelled": "CANCELLED", "job.retried": "QUEUED" };
const S = {
  token: localStorage.getItem("orbToken") || "",
  types: [], typeByName: new Map(),
  agents: new Map(), jobs: new Map(),
  seq: 0,                 // the last event seq seen: a reconnect subscribes from here
  ws: null, wsLive: false, buffering: null,
  route: { name: "", id: null, query: new URLSearchParams() },
  viewer: false,          // an operator call was refused with 403: the token is a viewer's
  listCursor: null,
  page: null,             // the open job page: {id, job, events: Map seq->event, logSeq: {runId: seq}, fetching}
};
const $ = (id) => document.getElementById(id);
const text = (v) => (v === null || v === undefined ? "" : String(v));
// The texts of a comma-separated input, trimmed, empty ones left out.
const commaList = (id) => $(id).value.split(",").map((x) => x.trim()).filter(Boolean);
// A form's problems (fleet-cmdr's error details, or found here): each at the form's closest
// field for its path ("policy.phases[1].percent" -> "policy.phases[].percent", then
// "policy.phases", ...; `field(path)` maps the path first), the whole path in front when the field
// is a shorter one; the rest in `errorBox`.
function clearFormErrors(form, errorBox) {
  form.querySelectorAll(".field").forEach((f) => { f.classList.remove("invalid"); const e = f.querySelector(".field-error"); if (e) e.textContent = ""; });
  errorBox.textContent = "";
}
function closestField(form, path) {
  let p = path.replace(/\[\d+\]/g, "[]");
  while (p) {
    const f = form.querySelector('.field[data-path="' + CSS.escape(p) + '"]'); if (f) return f;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut > 0 ? p.slice(0, cut) : "";
  }
  return null;
}
function showFormProblems(form, errorBox, err, field = (path) => path) {
  clearFormErrors(form, errorBox);
  const unplaced = [];
  for (const d of err.details && err.details.length ? err.details : [{ field: "", problem: err.message }]) {
    const path = d.field ? field(d.field) : "";
    const f = path ? closestField(form, path) : null;
    if (!f) { unplaced.push((d.field ? d.field + ": " : "") + d.problem); continue; }
    f.classList.add("invalid");
    const box = f.querySelector(".field-error");
    const where = f.dataset.path === path.replace(/\[\d+\]/g, "[]") ? "" : d.field + ": ";
    box.textContent = (box.textContent ? box.textContent + "; " : "") + where + d.problem;
  }
  // What no field shows goes here; when every problem is at its field, one line says to look there.
  errorBox.textContent = unplaced.length ? unplaced.join("; ") : "Fix the marked fields.";
}
// "k=v, k2=v2" in input `id` as a labels object; a pair without "=" goes to `problems` under `field`.
function labelsOf(id, field, problems) {
  const labels = {};
  for (const pair of commaList(id)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) problems.push({ field, problem: JSON.stringify(pair) + " is not KEY=VALUE" });
    else labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
};
// One "key value" row of a .kv box, unless the value is empty; objects (a payload, a result) as
// indented JSON that wraps, never one line wider than the page.
function addField(kv, k, v) {
  if (v === null || v === undefined || v === "") return;
  const json = typeof v === "object";
  kv.append(el("div", { text: k }), el(json ? "pre" : "div", { class: json ? "mono json" : "mono", text: json ? JSON.stringify(v, null, 2) : String(v) }));
}
const shortTime = (t) => (t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "");

// ---- REST -------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || { code: "http_" + status, message: "HTTP " + status, details: [] };
    super(err.message); this.status = status; this.code = err.code; this.details = err.details || [];
  }
}
async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + S.token } };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    if (r.status === 401) signOut("Your token is not valid (any more): sign in again.");
    const err = new ApiError(r.status, data);
    noteForbidden(err);
    throw err;
  }
  return data;
}

// ---- the model --------------------------------------------------------------------------------
// A job from REST: keep what the stream added (percent, message) when the snapshot has no run info.
// A snapshot older than what the stream already said (fetched before the event, answered after
// it) does not move the job back. `asOf` is the stream's seq when the request was sent: progress
// the stream brought after that is newer than the snapshot (a progress update does not change the
// job's updatedAt, so the check below cannot see it).
function putJob(job, asOf) {
  const old = S.jobs.get(job.id) || {};
  const merged = Object.assign({}, old, job);
  const streamIsNewer = asOf !== undefined && old.progressSeq !== undefined && old.progressSeq > asOf;
  if (job.runs && job.runs.length && !streamIsNewer) {
    const run = job.runs[job.runs.length - 1];
    merged.percent = run.percent; merged.message = run.message;
  }
  if (old.updatedAt && job.updatedAt && old.updatedAt > job.updatedAt) {
    for (const k of ["status", "percent", "message", "cancelRequested", "currentRunId", "updatedAt"]) merged[k] = old[k];
  }
  S.jobs.set(job.id, merged);
  return merged;
}
// An event changes a job only forward: a late or replayed event never undoes a newer snapshot.
function applyEvent(e) {
  if (e.seq <= S.seq) return;  // replayed twice (reconnect overlap)
  S.seq = e.seq;
  if (e.jobId) {
    let j = S.jobs.get(e.jobId);
    const fresh = !j;
    if (!j) j = { id: e.jobId, type: e.jobType, agentId: e.agentId, instanceId: e.instanceId, createdAt: e.timestamp };
    const newer = !j.updatedAt || e.timestamp >= j.updatedAt;
    const status = STATUS_OF_EVENT[e.type];
    if (status && newer) { j.status = status; j.updatedAt = e.timestamp; }
    if (e.type === "job.running") { j.currentRunId = e.runId; j.percent = 0; j.message = null; j.progressSeq = e.seq; if (e.attempt) j.attempts = e.attempt; }
    if (e.type === "job.progress" && !FINAL.has(j.status)) {
      if (e.percent !== null && e.percent !== undefined) j.percent = e.percent;
      if (e.message) j.message = e.message;
      j.progressSeq = e.seq;
    }
    if (e.type === "job.completed") j.percent = 100;
    if (e.type === "job.cancel_requested") j.cancelRequested = true;
    if ((e.type === "job.failed" || e.type === "job.cancelled") && e.error) j.lastError = e.error;
    if (e.type === "job.retried" || e.type === "job.queued") j.cancelRequested = false;
    S.jobs.set(j.id, j);
    trackRunning(j, e);
    onJobChanged(j, e, fresh);
  }
  for (const listener of EVENT_LISTENERS) listener(e);
  if (e.type === "agent.online" || e.type === "agent.offline" || e.type === "agent.enrolled") {
    const a = S.agents.get(e.agentId) || { agentId: e.agentId, labels: {}, runningRuns: [], jobTypes: [] };
    if (e.type !== "agent.enrolled") { a.online = e.type === "agent.online"; a.lastSeenAt = e.timestamp; }
    S.agents.set(e.agentId, a);
    agentChanged(e.agentId);
    fillAgentList();
  }
  if (e.type === "agent.health") {
    const a = S.agents.get(e.agentId) || { agentId: e.agentId, labels: {}, runningRuns: [], jobTypes: [] };
    a.health = { healthy: e.status === "healthy", problemsText: e.message || "" };
    S.agents.set(e.agentId, a);
    agentChanged(e.agentId);
    fillAgentList();
  }
}
function trackRunning(j, e) {
  const a = S.agents.get(j.agentId);
  if (!a || !e.runId) return;
  a.runningRuns = (a.runningRuns || []).filter((r) => (typeof r === "string" ? r : r.runId) !== e.runId);
  if (e.type === "job.running" || e.type === "job.progress" || e.type === "job.cancel_requested") {
    if (!FINAL.has(j.status)) a.runningRuns.push({ runId: e.runId, jobId: j.id, type: j.type });
  }
  agentChanged(j.agentId);
}

// ---- the stream (protocol.md §6) ----------------------------------------------------------------
let reconnectDelay = 500;
function connect() {
  if (S.ws) return;
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/stream");
  S.ws = ws;
  setConn(S.seq ? "reconnecting" : "connecting");
  ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", token: S.token, since: S.seq || null }));
  ws.onmessage = (m) => {
    let msg; try { msg = JSON.parse(m.data); } catch { return; }
    if (msg.type === "ready") {
      reconnectDelay = 500; S.wsLive = true; setConn("live");
      if (!S.seq) { S.seq = msg.seq; loadSnapshot(); }  // first connection: snapshot after "ready"
      else if (S.viewFailed) route();  // back after an outage: load again what failed to load
    } else if (msg.type === "event") {
      if (S.buffering) S.buffering.push(msg.event); else applyEvent(msg.event);
    } else if (msg.type === "resync") {
      S.seq = 0; ws.close();  // too far behind: the next connection starts from a new snapshot
    }
  };
  ws.onclose = (ev) => {
    S.ws = null; S.wsLive = false;
    if (!S.token) return;
    if (ev.code === 1008 && !S.seq) { signOut("The stream refused the token: sign in again."); return; }
    setConn("reconnecting");
    setTimeout(connect, reconnectDelay); reconnectDelay = Math.min(reconnectDelay * 2, 8000);
  };
}
function setConn(state) { const c = $("conn"); c.textContent = state; c.className = state; }

// The REST snapshot, taken after the stream said "ready": events that arrive meanwhile are held
// and applied after it (applyEvent never moves a job backwards).
async function loadSnapshot() {
  S.buffering = [];
  try {
    const [agents, jobs] = await Promise.all([api("GET", "/v1/agents"), api("GET", "/v1/jobs?limit=200")]);
    S.agents = new Map(agents.agents.map((a) => [a.agentId, a]));
    S.jobs = new Map(); jobs.jobs.forEach(putJob);
  } catch (err) { console.warn("snapshot", err); }
  const held = S.buffering; S.buffering = null;
  const seq = S.seq; S.seq = 0;  // replay the held events (all newer than "ready")
  for (const e of held) applyEvent(e);
  S.seq = Math.max(S.seq, seq);
  fillAgentList(); route();
}

// ---- routing ------------------------------------------------------------------------------------
// The views: name -> {nav, open(id)}, added by each file with addView. `detailOf` makes
// "#/<list>/<id>" the view of one item ("#/jobs/ID" is the view "job").
const VIEWS = new Map();
const DETAIL_VIEW = new Map();
// Called with every stream event after the core's model took it (rollouts.js, schedules.js).
const EVENT_LISTENERS = [];
// Called with an agent's id once its entry in S.agents changed (presence, health, a run started or
// ended, its last job's status): the fleet grid's tile, the host page.
const AGENT_LISTENERS = [];
function agentChanged(agentId) { for (const listener of AGENT_LISTENERS) listener(agentId); }
function addView(name, view) {
  VIEWS.set(name, view);
  if (view.detailOf) DETAIL_VIEW.set(view.detailOf, name);
}
// A view's load failed (fleet-cmdr unreachable, say): the stream's next "ready" opens it again.
function viewFailed() { S.viewFailed = true; }
function route() {
  S.viewFailed = false;
  const hash = location.hash || "#/jobs";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  S.route = { name: parts[0] || "jobs", id: parts[1] ? decodeURIComponent(parts[1]) : null, query: new URLSearchParams(query || "") };
  if (S.route.id && DETAIL_VIEW.has(S.route.name)) S.route.name = DETAIL_VIEW.get(S.route.name);
  // "#/hosts" (a detail view's list without a page of its own): the page its nav link names.
  else if (!VIEWS.has(S.route.name) && DETAIL_VIEW.has(S.route.name)) S.route.name = VIEWS.get(DETAIL_VIEW.get(S.route.name)).nav;
  for (const v of VIEWS.keys()) $("view-" + v).hidden = v !== S.route.name;
  const view = VIEWS.get(S.route.name);
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", !!view && a.dataset.route === view.nav));
  if (view) view.open(S.route.id);
}

// Operator actions (cancel, pause, fire now, ...): a viewer's token may not use them. The UI asks
// GET /v1/whoami at sign-in; a 403 on an operator call says the same (a fleet-cmdr older than
// that call), and from then on every operator button is disabled with that reason.
const VIEWER_REASON = "This token is a viewer's: it cannot change anything.";
function noteForbidden(err) {
  if (!(err instanceof ApiError) || err.status !== 403 || S.viewer) return;
  S.viewer = true;
  lockOperatorButtons();
}
function lockOperatorButtons() {
  if (!S.viewer) return;
  document.querySelectorAll("button.operator").forEach((b) => { b.disabled = true; b.title = VIEWER_REASON; });
}

// ---- sign-in --------------------------------------------------------------------------------------
async function start() {
  try {
    const types = await api("GET", "/v1/job-types");
    S.types = types.jobTypes; S.typeByName = new Map(S.types.map((t) => [t.name, t]));
  } catch (err) { $("signin-error").textContent = err.message; return; }
  try {
    const me = await api("GET", "/v1/whoami");
    S.viewer = me.role === "viewer";
  } catch (err) { S.viewer = false; }  // not known: the first 403 tells
  localStorage.setItem("orbToken", S.token);
  const ft = $("f-type");
  if (ft.options.length === 1) for (const t of S.types) ft.appendChild(el("option", { text: t.name }));
  $("signin").hidden = true; $("app").hidden = false; $("nav").hidden = false; $("signout").hidden = false;
  S.seq = 0; connect();
}
function signOut(message) {
  S.token = ""; S.viewer = false; localStorage.removeItem("orbToken");
  if (S.ws) S.ws.close();
  $("signin").hidden = false; $("app").hidden = true; $("nav").hidden = true; $("signout").hidden = true;
  $("signin-error").textContent = message || ""; setConn("signed out");
}

$("go").onclick = () => { S.token = $("token").value.trim(); start(); };
$("token").onkeydown = (e) => { if (e.key === "Enter") $("go").click(); };
$("signout").onclick = () => signOut();
window.onhashchange = () => { if (S.token && S.wsLive !== undefined && !$("app").hidden) route(); };
// Every file of the UI is loaded (and has added its views) before the first route.
document.addEventListener("DOMContentLoaded", () => { if (S.token) start(); });
