// The rollouts list and one rollout's page (docs/protocol.md "Rollouts", docs/decisions/0021):
// its policy, its phases, its counts and a grid of one tile per host coloured by its status, kept
// live by the stream: a job event of the rollout (it carries rolloutId) moves its host's tile, a
// rollout.* event brings the counts and the rollout's status. Loaded after app.js.
"use strict";
const HOST_STATES = ["pending", "waiting", "queued", "running", "completed", "failed", "cancelled", "skipped"];
const HOST_FINAL = new Set(["completed", "failed", "cancelled", "skipped"]);
// A host's status from its job's event (pending: no job yet; waiting: the job is CREATED).
const HOST_OF_EVENT = { "job.created": "waiting", "job.queued": "queued", "job.retried": "queued",
  "job.running": "running", "job.progress": "running", "job.cancel_requested": "running",
  "job.completed": "completed", "job.failed": "failed", "job.cancelled": "cancelled" };
const ROLLOUT_OPEN = new Set(["RUNNING", "PAUSED"]);
const RO = {
  list: new Map(), listIds: [], cursor: null,
  // The open rollout: {id, rollout, hosts: [{agentId, jobId, status}], byAgent: Map agentId->host,
  // held: job events that arrived while its hosts were being fetched (applied after them), ...}
  page: null,
};

// ---- the list -----------------------------------------------------------------------------------
async function openRollouts() {
  try {
    const data = await api("GET", "/v1/rollouts?limit=100");
    RO.listIds = data.rollouts.map((r) => { RO.list.set(r.id, r); return r.id; });
    RO.cursor = data.nextCursor || null; $("rollouts-error").textContent = "";
  } catch (err) { $("rollouts-error").textContent = err.message; RO.listIds = []; viewFailed(); }
  renderRollouts();
}
async function moreRollouts() {
  try {
    const data = await api("GET", "/v1/rollouts?limit=100&cursor=" + encodeURIComponent(RO.cursor));
    RO.listIds.push(...data.rollouts.map((r) => { RO.list.set(r.id, r); return r.id; }));
    RO.cursor = data.nextCursor || null;
  } catch (err) { $("rollouts-error").textContent = err.message; }
  renderRollouts();
}
const finalCount = (c) => c.completed + c.failed + c.cancelled + c.skipped;
function countsBar(c) {
  const pct = c.total ? Math.floor((finalCount(c) * 100) / c.total) : 0;
  const bar = el("div", { class: "bar", title: finalCount(c) + " of " + c.total + " hosts done" }, el("div"));
  bar.firstChild.style.width = pct + "%";
  bar.setAttribute("data-percent", String(pct));
  return bar;
}
const phaseText = (r) => (r.policy.phases || []).length > 1 ? (r.phase + 1) + " of " + r.policy.phases.length : "";
function renderRollouts() {
  const body = $("rollouts"); body.replaceChildren();
  for (const id of RO.listIds) {
    const r = RO.list.get(id); if (!r) continue;
    const c = r.counts;
    body.appendChild(el("tr", { "data-rollout": r.id },
      el("td", {}, el("a", { href: "#/rollouts/" + r.id, text: r.name })),
      el("td", { class: "rs-" + r.status, text: r.status }),
      el("td", { text: r.job.type + " " + text(r.job.instanceId || r.job.serverId) }),
      el("td", { text: phaseText(r) }),
      el("td", {}, countsBar(c)),
      el("td", { class: "done", text: finalCount(c) + " / " + c.total }),
      el("td", { text: String(c.running) }),
      el("td", { class: c.failed + c.skipped ? "st-FAILED" : "", text: String(c.failed + c.skipped) }),
      el("td", { class: "mono", text: shortTime(r.updatedAt) })));
  }
  if (!RO.listIds.length) body.appendChild(el("tr", {}, el("td", { colSpan: 9, class: "hint", text: "No rollouts yet (fleetctl rollout create)." })));
  $("rollouts-more").hidden = !RO.cursor;
}

// ---- one rollout --------------------------------------------------------------------------------
async function openRollout(id) {
  const page = RO.page = { id, rollout: null, hosts: [], byAgent: new Map(), held: null, busy: false, again: false, hostsBusy: false, hostsAgain: false };
  $("rollout-error").textContent = ""; $("rollout-hosts").replaceChildren(); $("rollout-phases").replaceChildren();
  $("rollout-name").textContent = "Rollout " + id; $("rollout-status").textContent = "";
  // Nothing of the rollout shown before stays while this one loads (or fails to).
  $("rollout-counts").replaceChildren(); $("rollout-fields").replaceChildren(); $("rollout-hosts-note").textContent = "";
  for (const b of ["rollout-pause", "rollout-resume", "rollout-abort", "rollout-cancel-running"]) $(b).disabled = true;
  try {
    page.rollout = await api("GET", "/v1/rollouts/" + id);
  } catch (err) { if (RO.page === page) { $("rollout-error").textContent = err.message; viewFailed(); } return; }
  if (RO.page !== page) return;
  RO.list.set(id, page.rollout);
  renderRollout();
  await fetchHosts(page);
}
// Every host, page by page, in rollout order. Job events that arrive meanwhile are held and applied
// after the snapshot, in order: a host never goes back to what an older snapshot said.
async function fetchHosts(page) {
  if (page.hostsBusy) { page.hostsAgain = true; return; }
  page.hostsBusy = true;
  try {
    do {
      page.hostsAgain = false;
      page.held = [];
      const hosts = [];
      let cursor = null;
      do {
        const data = await api("GET", "/v1/rollouts/" + page.id + "/hosts?limit=500" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
        hosts.push(...data.hosts);
        cursor = data.nextCursor || null;
      } while (cursor && RO.page === page);
      if (RO.page !== page) return;
      page.hosts = hosts; page.byAgent = new Map(hosts.map((h) => [h.agentId, h]));
      const held = page.held; page.held = null;
      for (const e of held) applyHostEvent(page, e);
      renderHosts(); renderPhases();
    } while (page.hostsAgain);
  } catch (err) { $("rollout-error").textContent = err.message; } finally { page.hostsBusy = false; page.held = null; }
}
// The rollout's record again (its phase, updatedAt); when the counts it brings differ from the
// tiles' (a host skipped by its timeout: its job's event says cancelled), its hosts again too.
async function refreshRollout(page) {
  if (page.busy) { page.again = true; return; }
  page.busy = true;
  try {
    do {
      page.again = false;
      const r = await api("GET", "/v1/rollouts/" + page.id);
      if (RO.page !== page) return;
      page.rollout = r; RO.list.set(r.id, r);
      renderRollout();
      if (!page.hostsBusy && !sameCounts(tileCounts(page), r.counts)) fetchHosts(page);
    } while (page.again);
  } catch (err) { console.warn("rollout", err); } finally { page.busy = false; }
}
function tileCounts(page) {
  const c = Object.fromEntries(HOST_STATES.map((s) => [s, 0]));
  for (const h of page.hosts) c[h.status] = (c[h.status] || 0) + 1;
  c.total = page.hosts.length;
  return c;
}
const sameCounts = (a, b) => ["total", ...HOST_STATES].every((k) => a[k] === b[k]);

function applyHostEvent(page, e) {
  const status = HOST_OF_EVENT[e.type];
  const host = page.byAgent.get(e.agentId);
  if (!status || !host) return false;
  // A progress or cancel request says nothing new about a host that is not running any more.
  if ((e.type === "job.progress" || e.type === "job.cancel_requested") && host.status !== "running") return false;
  host.jobId = e.jobId; host.status = status;
  return true;
}
function renderHosts() {
  const page = RO.page; if (!page) return;
  const grid = $("rollout-hosts"); grid.replaceChildren();
  page.tiles = new Map();  // agentId -> its tile: an event replaces one tile, not the grid
  for (const h of page.hosts) { const t = hostTile(h); page.tiles.set(h.agentId, t); grid.appendChild(t); }
  $("rollout-hosts-note").textContent = page.hosts.length ? "" : "No hosts.";
}
function hostTile(h) {
  const tile = el(h.jobId ? "a" : "span", { class: "tile h-" + h.status, "data-agent": h.agentId, "data-status": h.status,
    title: h.agentId + ": " + h.status + (h.jobId ? " (job " + h.jobId + ")" : ""), text: h.agentId });
  if (h.jobId) tile.href = "#/jobs/" + h.jobId;
  return tile;
}
function updateTile(page, h) {
  const old = page.tiles && page.tiles.get(h.agentId);
  if (!old) return;
  const t = hostTile(h);
  old.replaceWith(t); page.tiles.set(h.agentId, t);
}
function renderRollout() {
  const page = RO.page; if (!page || !page.rollout) return;
  const r = page.rollout, c = r.counts;
  $("rollout-name").textContent = r.name;
  const st = $("rollout-status"); st.textContent = r.status; st.className = "rs-" + r.status;
  $("rollout-pause").disabled = r.status !== "RUNNING";
  $("rollout-resume").disabled = r.status !== "PAUSED";
  $("rollout-abort").disabled = !ROLLOUT_OPEN.has(r.status);
  $("rollout-cancel-running").disabled = !ROLLOUT_OPEN.has(r.status);
  lockOperatorButtons();
  $("rollout-jobs").href = "#/jobs?rolloutId=" + encodeURIComponent(r.id);
  const counts = $("rollout-counts"); counts.replaceChildren(countsBar(c));
  for (const k of ["total", ...HOST_STATES]) {
    counts.appendChild(el("span", { "data-count": k }, el("span", { class: k === "total" ? "hint" : "tile h-" + k, text: k }), " ", el("b", { text: String(c[k]) })));
  }
  const kv = $("rollout-fields"); kv.replaceChildren();
  const add = (k, v) => addField(kv, k, v);
  const p = r.policy;
  add("id", r.id);
  add("target", r.target.selector ? "labels " + Object.entries(r.target.selector.labels).map(([k, v]) => k + "=" + v).join(" ") : (r.target.agentIds || []).join(", "));
  add("job", r.job.type + (r.job.instanceId ? " instance " + r.job.instanceId : "") + (r.job.serverId ? " server " + r.job.serverId : ""));
  add("payload", r.job.payload);
  add("max in flight", p.maxInFlight);
  add("started per minute", p.maxPerMinute ? p.maxPerMinute + ", at an even pace" : "no limit");
  add("abort", p.abort ? "when failed or skipped hosts are " + p.abort.failedPercent + " % of at least " + p.abort.minFinished + " finished" : "never (no abort rule)");
  add("host timeout", p.hostTimeoutSeconds ? p.hostTimeoutSeconds + " s" : "none");
  add("order", r.order);
  add("why aborted", r.abortReason);
  if (r.cancelRunning) add("aborted with", "cancelRunning");
  add("created", shortTime(r.createdAt)); add("updated", shortTime(r.updatedAt));
  renderPhases();
}
// Phase k takes the hosts up to ceil(percent × hosts / 100), in rollout order (protocol.md).
function renderPhases() {
  const page = RO.page; if (!page || !page.rollout) return;
  const r = page.rollout;
  const phases = (r.policy.phases || []).length ? r.policy.phases : [{ percent: 100 }];
  const total = r.counts.total;
  const body = $("rollout-phases"); body.replaceChildren();
  let start = 0;
  phases.forEach((ph, k) => {
    const end = Math.ceil((ph.percent * total) / 100);
    const hosts = page.hosts.slice(start, end);
    const done = hosts.filter((h) => HOST_FINAL.has(h.status)).length;
    let state;
    if (r.status === "COMPLETED" || k < r.phase) state = "done";
    else if (k > r.phase) state = "not started";
    else state = r.status === "RUNNING" ? "open" : r.status === "PAUSED" ? "open (paused)" : "stopped (aborted)";
    body.appendChild(el("tr", { "data-phase": String(k), class: k === r.phase && ROLLOUT_OPEN.has(r.status) ? "phase-open" : "" },
      el("td", { text: String(k + 1) }), el("td", { text: ph.percent + " % (" + (end - start) + (end - start === 1 ? " host)" : " hosts)") }),
      el("td", { class: "mono", text: shortTime(ph.startAt) }), el("td", { class: "phase-state", text: state }),
      el("td", { class: "phase-done", text: page.hosts.length ? done + " / " + (end - start) : "" })));
    start = end;
  });
}
async function rolloutAction(action) {
  const page = RO.page; if (!page) return;
  $("rollout-error").textContent = "";
  let body;
  if (action === "abort") {
    const cancelRunning = $("rollout-cancel-running").checked;
    if (!confirm("Abort the rollout " + page.rollout.name + "? Hosts not started get no job" + (cancelRunning ? "; running jobs are cancelled." : "."))) return;
    body = { cancelRunning };
  }
  try {
    const r = await api("POST", "/v1/rollouts/" + page.id + "/" + action, body);
    if (RO.page === page && r && r.id) { page.rollout = r; RO.list.set(r.id, r); renderRollout(); }
  } catch (err) { $("rollout-error").textContent = err.code + ": " + err.message; }
}

// ---- the stream ---------------------------------------------------------------------------------
EVENT_LISTENERS.push((e) => {
  if (!e.rolloutId) return;
  const page = RO.page && RO.page.id === e.rolloutId && S.route.name === "rollout" ? RO.page : null;
  if (e.type.startsWith("rollout.")) {
    const known = RO.list.get(e.rolloutId);
    if (known) Object.assign(known, { status: e.status, counts: e.counts || known.counts, updatedAt: e.timestamp });
    if (S.route.name === "rollouts") {
      if (!known) {
        api("GET", "/v1/rollouts/" + e.rolloutId).then((r) => {
          RO.list.set(r.id, r);
          if (!RO.listIds.includes(r.id)) RO.listIds.unshift(r.id);
          if (S.route.name === "rollouts") renderRollouts();
        }).catch(() => {});
      } else renderRollouts();
    }
    if (page && page.rollout) {
      Object.assign(page.rollout, { status: e.status, counts: e.counts || page.rollout.counts, updatedAt: e.timestamp });
      renderRollout();
      refreshRollout(page);
    }
    return;
  }
  if (!page) return;
  if (page.held) { page.held.push(e); return; }
  if (applyHostEvent(page, e)) { updateTile(page, page.byAgent.get(e.agentId)); renderPhases(); }
});

$("rollouts-more").onclick = () => moreRollouts();
$("rollout-pause").onclick = () => rolloutAction("pause");
$("rollout-resume").onclick = () => rolloutAction("resume");
$("rollout-abort").onclick = () => rolloutAction("abort");
addView("rollouts", { nav: "rollouts", open: () => openRollouts() });
addView("rollout", { nav: "rollouts", detailOf: "rollouts", open: (id) => openRollout(id) });
