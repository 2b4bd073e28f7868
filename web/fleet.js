// The fleet page (docs/decisions/0025): counts of hosts per state, a label filter, one tile per
// host coloured by its state, and the "Last hour" chart (chart.js). Loaded after app.js (S, api,
// el, addView, EVENT_LISTENERS).
//
// Built for thousands of hosts: opening the page builds every tile once (one fragment, one DOM
// insertion); after that an event changes only its host's tile (fleetAgentChanged) and the counts
// by the difference, never the whole grid. The chart is fetched when the page opens and again after
// jobs end, at most once every CHART_MIN_GAP_MS, never per event.
"use strict";
const FLEET_STATES = ["online", "busy", "failed", "offline"];
const CHART_MIN_GAP_MS = 3000;
const FLEET = {
  tiles: new Map(),     // agentId -> the tile element
  stateOf: new Map(),   // agentId -> the state its tile shows (counted in `counts` when shown)
  counts: { online: 0, busy: 0, failed: 0, offline: 0 },
  filter: [],           // [[key, value], ...] from "k=v k2=v2"
  built: false,
  chart: { timer: null, last: 0, inFlight: false },
};
// offline (also a revoked agent) > busy (has a RUNNING job) > failed (its last job FAILED: the
// agent's lastJobStatus from GET /v1/agents, kept current by the stream) > online.
function hostState(a) {
  if (a.revoked || !a.online) return "offline";
  if ((a.runningRuns || []).length) return "busy";
  if (a.lastJobStatus === "FAILED") return "failed";
  return "online";
}
function labelText(a) { return Object.entries(a.labels || {}).map(([k, v]) => k + "=" + v).join(" "); }
function matchesFilter(a) { return FLEET.filter.every(([k, v]) => (a.labels || {})[k] === v); }
function healthProblems(health) {
  if (!health) return "";
  return health.problemsText !== undefined ? health.problemsText
    : (health.problems || []).map((p) => p.code + ": " + p.message).join("; ");
}

// Sets a tile's look from its agent; keeps FLEET.counts in step (only shown tiles count).
function paintTile(tile, a) {
  const state = hostState(a);
  const shown = matchesFilter(a);
  const before = FLEET.stateOf.get(a.agentId);
  if (before) FLEET.counts[before]--;
  if (shown) { FLEET.counts[state]++; FLEET.stateOf.set(a.agentId, state); } else FLEET.stateOf.delete(a.agentId);
  tile.hidden = !shown;
  tile.className = "tile host-tile hs-" + state + (a.health && !a.health.healthy ? " unhealthy" : "");
  tile.dataset.state = state;
  tile.dataset.health = a.health ? (a.health.healthy ? "healthy" : "unhealthy") : "unknown";
  const problems = healthProblems(a.health);
  tile.dataset.problems = problems;
  const running = (a.runningRuns || []).length;
  tile.title = [a.agentId + ": " + state + (running ? ` (${running} running)` : ""),
    labelText(a) && "labels: " + labelText(a), a.agentVersion && "version " + a.agentVersion,
    a.lastSeenAt && "last seen " + shortTime(a.lastSeenAt), problems && "unhealthy: " + problems].filter(Boolean).join("\n");
}
function makeTile(a) {
  const tile = el("a", { href: "#/hosts/" + encodeURIComponent(a.agentId), "data-agent": a.agentId, text: a.agentId });
  FLEET.tiles.set(a.agentId, tile);
  paintTile(tile, a);
  return tile;
}
function renderCounts() {
  const total = FLEET_STATES.reduce((sum, s) => sum + FLEET.counts[s], 0);
  $("fleet-total").textContent = total + (total === 1 ? " host" : " hosts");
  for (const s of FLEET_STATES) $("fleet-count-" + s).textContent = FLEET.counts[s];
}
// The whole grid, once per opening of the page (or a new filter): one fragment.
function renderFleet() {
  FLEET.tiles.clear(); FLEET.stateOf.clear();
  for (const s of FLEET_STATES) FLEET.counts[s] = 0;
  const agents = [...S.agents.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));
  const fragment = document.createDocumentFragment();
  for (const a of agents) fragment.append(makeTile(a));
  $("fleet-grid").replaceChildren(fragment);
  $("fleet-empty").hidden = agents.length > 0;
  FLEET.built = true;
  renderCounts();
}
// One agent changed (presence, health, a run started or ended): its tile only. Off the fleet page
// nothing is drawn; opening it builds the grid from S.agents.
function fleetAgentChanged(agentId) {
  if (S.route.name !== "fleet" || !FLEET.built) { FLEET.built = false; return; }
  const a = S.agents.get(agentId);
  if (!a) return;
  const tile = FLEET.tiles.get(agentId);
  if (tile) paintTile(tile, a); else { $("fleet-grid").append(makeTile(a)); $("fleet-empty").hidden = true; }
  renderCounts();
}
function parseLabelFilter(textValue) {
  return textValue.split(/[\s,]+/).filter(Boolean).map((kv) => {
    const at = kv.indexOf("=");
    return at < 0 ? [kv, ""] : [kv.slice(0, at), kv.slice(at + 1)];
  });
}
function applyLabelFilter() {
  FLEET.filter = parseLabelFilter($("fleet-filter").value);
  for (const s of FLEET_STATES) FLEET.counts[s] = 0;
  FLEET.stateOf.clear();
  for (const [id, tile] of FLEET.tiles) { const a = S.agents.get(id); if (a) paintTile(tile, a); }
  renderCounts();
}
$("fleet-filter").oninput = applyLabelFilter;

// ---- the last hour's chart ----------------------------------------------------------------------
async function refreshChart() {
  const c = FLEET.chart;
  c.timer = null;
  if (S.route.name !== "fleet" || c.inFlight) return;
  c.inFlight = true; c.last = Date.now();
  try {
    const history = await api("GET", "/v1/stats/history?minutes=60");
    $("history-chart").replaceChildren(drawHistoryChart(history));
    $("history-note").textContent = history.truncated ? "More jobs ended than one answer holds: the newest are shown." : "";
  } catch (err) { $("history-note").textContent = "The chart could not be loaded: " + err.message; viewFailed(); }
  c.inFlight = false;
}
// After jobs end: at most one fetch every CHART_MIN_GAP_MS, the last end included.
function scheduleChart() {
  const c = FLEET.chart;
  if (c.timer || S.route.name !== "fleet") return;
  c.timer = setTimeout(refreshChart, Math.max(0, c.last + CHART_MIN_GAP_MS - Date.now()));
}

// A job's end is its agent's last job status (what GET /v1/agents' lastJobStatus says); an
// automatic retry (job.failed, then job.retried) takes the FAILED back.
EVENT_LISTENERS.push((e) => {
  const a = e.agentId && S.agents.get(e.agentId);
  if (a && (e.type === "job.completed" || e.type === "job.failed" || e.type === "job.cancelled")) {
    a.lastJobBefore = a.lastJobStatus; a.lastJobId = e.jobId;
    a.lastJobStatus = STATUS_OF_EVENT[e.type];
    agentChanged(e.agentId);
  } else if (a && e.type === "job.retried" && a.lastJobId === e.jobId) {
    a.lastJobStatus = a.lastJobBefore;
    agentChanged(e.agentId);
  }
  if (e.type === "job.completed" || e.type === "job.failed" || e.type === "job.cancelled") scheduleChart();
});

AGENT_LISTENERS.push(fleetAgentChanged);

addView("fleet", { nav: "fleet", open: () => { renderFleet(); refreshChart(); } });
