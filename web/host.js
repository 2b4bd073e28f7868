// The host page (#/hosts/<agentId>, reached from a tile of the fleet page): the host's state and
// labels, and what it holds as its agent last reported it (docs/protocol.md section 4
// "inventory", docs/decisions/0024): servers and builds, instances with state and uptime, backups,
// disk use; and its recent jobs. Buttons for the usual jobs open the enqueue form filled in (they
// never submit anything). Loaded after app.js, jobs.js (progressBar), enqueue.js and fleet.js
// (hostState, labelText).
//
// Live: agent.inventory for this host fetches its inventory again (the event carries only a
// summary); presence, health and runs come through AGENT_LISTENERS; job.* events of this host
// update its jobs table from S.jobs. The uptimes tick once a second while the page is open.
"use strict";
const HOST_JOBS = 20;  // how many of its newest jobs the page lists
const HOST = {
  id: null,            // the open host's agentId
  inventory: null,     // its latest inventory (null before its first report)
  inventoryError: "",
  jobIds: [],          // its recent jobs, newest first
  ticker: null,        // the uptime clock, running while the page is open
};
// agentId -> the promise of its latest inventory (null: none reported yet). Shared with the
// enqueue form (offerHostIds); an agent.inventory event drops the agent's entry.
const INVENTORIES = new Map();
function loadInventory(agentId) {
  if (INVENTORIES.has(agentId)) return INVENTORIES.get(agentId);
  const promise = api("GET", "/v1/agents/" + encodeURIComponent(agentId) + "/inventory")
    .catch((err) => { if (err.status === 404) return null; INVENTORIES.delete(agentId); throw err; });
  INVENTORIES.set(agentId, promise);
  return promise;
}

function formatBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}
// "3d 4h", "2h 05m", "4m 09s", "12s" since an RFC 3339 time.
function formatUptime(since, now = Date.now()) {
  const t = Date.parse(since);
  if (Number.isNaN(t)) return "";
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const two = (x) => String(x).padStart(2, "0");
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${two(m)}m`;
  if (m) return `${m}m ${two(s)}s`;
  return `${s}s`;
}

// A button that opens the enqueue form with `type` on this host, its target and payload ids filled
// in (enqueue.js reads them from the route's query). A viewer's token (S.viewer) gets none.
function enqueueButton(label, type, target, payload = {}) {
  const q = new URLSearchParams({ type, agentId: HOST.id });
  if (target) q.set("target", target);
  for (const [k, v] of Object.entries(payload)) q.set("payload." + k, v);
  const b = el("button", { type: "button", class: "secondary operator", text: label });
  b.dataset.enqueue = type;
  b.onclick = () => { location.hash = "#/enqueue?" + q; };
  return b;
}
function actions(...buttons) { return el("td", { class: "host-actions" }, ...(S.viewer ? [] : buttons)); }

function renderHostState() {
  const a = S.agents.get(HOST.id);
  const st = $("host-state");
  if (!a) { st.textContent = "unknown"; st.className = "tile host-tile hs-offline"; st.dataset.state = "unknown"; }
  else {
    const state = hostState(a);
    st.textContent = state; st.className = "tile host-tile hs-" + state; st.dataset.state = state;
  }
  const fields = $("host-fields"); fields.replaceChildren();
  if (!a) { $("host-note").textContent = "No agent " + HOST.id + " is enrolled."; return; }
  const running = (a.runningRuns || []).length;
  const kv = [["labels", labelText(a) || "none"], ["presence", a.revoked ? "revoked" : a.online ? "online" : "offline"],
    ["running jobs", String(running)], ["last job", text(a.lastJobStatus) || "none yet"],
    ["health", a.health ? (a.health.healthy ? "healthy" : "unhealthy: " + healthProblems(a.health)) : "not reported"],
    ["agent version", text(a.agentVersion)], ["last seen", shortTime(a.lastSeenAt)],
    ["inventory reported", HOST.inventory ? shortTime(HOST.inventory.reportedAt) : "not yet"]];
  for (const [k, v] of kv) fields.append(el("div", { text: k }), el("div", { text: v, "data-field": k }));
}

function renderDisk(disk) {
  const bar = $("host-disk");
  const total = disk ? Number(disk.rootTotalBytes) : 0;
  const used = total ? total - Number(disk.rootFreeBytes) : 0;
  const pct = total ? Math.round((used / total) * 1000) / 10 : 0;
  bar.firstChild.style.width = pct + "%";
  bar.dataset.usedPercent = total ? String(pct) : "";
  bar.title = total ? pct + "% used" : "";
  $("host-disk-text").textContent = total
    ? `${formatBytes(used)} used of ${formatBytes(total)} (${pct}%), ${formatBytes(disk.rootFreeBytes)} free` : "not reported";
}

function emptyRow(cols, message) { return el("tr", {}, el("td", { colSpan: cols, class: "hint", text: message })); }

function renderInventory() {
  const inv = HOST.inventory;
  $("host-error").textContent = HOST.inventoryError;
  renderDisk(inv && inv.disk);
  const builds = $("host-builds"); builds.replaceChildren();
  const instances = $("host-instances"); instances.replaceChildren();
  const backups = $("host-backups"); backups.replaceChildren();
  if (!inv) {
    const why = HOST.inventoryError ? "" : "The agent has not reported its inventory yet.";
    builds.append(emptyRow(5, why)); instances.append(emptyRow(7, why)); backups.append(emptyRow(6, why));
    return;
  }
  for (const server of inv.servers || []) {
    const list = server.builds || [];
    if (!list.length) builds.append(el("tr", { "data-server": server.serverId }, el("td", { text: server.serverId }), el("td", { colSpan: 4, class: "hint", text: "no builds" })));
    for (const b of list) {
      const current = b.buildId === server.currentBuild;
      builds.append(el("tr", { "data-server": server.serverId, "data-build": b.buildId, "data-current": String(current) },
        el("td", { text: server.serverId }),
        el("td", { class: "mono" }, b.buildId, current ? el("span", { class: "current-build", text: " current" }) : ""),
        el("td", { class: "mono", text: shortTime(b.installedAt) }), el("td", { text: formatBytes(b.sizeBytes) }),
        actions(...(current ? [] : [enqueueButton("Activate", "ACTIVATE_BUILD", server.serverId, { buildId: b.buildId })]))));
    }
  }
  if (!(inv.servers || []).length) builds.append(emptyRow(5, "No servers installed."));

  for (const i of inv.instances || []) {
    const running = i.state === "running";
    const uptime = el("td", { class: "mono uptime" });
    if (running && i.startedAt) { uptime.dataset.started = i.startedAt; uptime.textContent = formatUptime(i.startedAt); }
    instances.append(el("tr", { "data-instance": i.instanceId, "data-state": i.state },
      el("td", { class: "mono", text: i.instanceId }), el("td", { text: text(i.serverId) }),
      el("td", { class: "mono", text: text(i.buildId) }), el("td", { class: "is-" + i.state, text: i.state }),
      el("td", { class: "mono", text: running ? text(i.pid) : "" }), uptime,
      actions(running ? enqueueButton("Stop", "STOP_INSTANCE", i.instanceId) : enqueueButton("Start", "START_INSTANCE", i.instanceId),
        enqueueButton("Restart", "RESTART_INSTANCE", i.instanceId), enqueueButton("Back up", "BACKUP_INSTANCE", i.instanceId))));
  }
  if (!(inv.instances || []).length) instances.append(emptyRow(7, "No instances."));

  for (const b of inv.backups || []) {
    backups.append(el("tr", { "data-instance": b.instanceId, "data-backup": b.backupId },
      el("td", { class: "mono", text: b.instanceId }), el("td", { class: "mono", text: b.backupId }),
      el("td", { class: "mono", text: shortTime(b.createdAt) }), el("td", { text: formatBytes(b.sizeBytes) }),
      el("td", { class: "mono", text: b.verifiedAt ? shortTime(b.verifiedAt) : "never" }),
      actions(enqueueButton("Restore", "RESTORE_BACKUP", b.instanceId, { backupId: b.backupId }),
        enqueueButton("Verify", "VERIFY_BACKUP", b.instanceId, { backupId: b.backupId }))));
  }
  if (!(inv.backups || []).length) backups.append(emptyRow(6, "No backups."));
  lockOperatorButtons();
}
function tickUptimes() {
  if (S.route.name !== "host") { clearInterval(HOST.ticker); HOST.ticker = null; return; }
  const now = Date.now();
  document.querySelectorAll("#host-instances [data-started]").forEach((td) => { td.textContent = formatUptime(td.dataset.started, now); });
}

function renderHostJobs() {
  const body = $("host-jobs"); body.replaceChildren();
  for (const id of HOST.jobIds) {
    const j = S.jobs.get(id); if (!j) continue;
    body.append(el("tr", { "data-job": j.id, "data-status": text(j.status) },
      el("td", { class: "mono" }, el("a", { href: "#/jobs/" + j.id, text: j.id.slice(-12) })),
      el("td", { text: text(j.type) }), el("td", { class: "mono", text: text(j.instanceId || j.serverId) }),
      el("td", { class: "st-" + j.status, text: text(j.status) }),
      el("td", {}, progressBar(j), " ", el("span", { class: "hint", text: text(j.message) })),
      el("td", { class: "mono", text: shortTime(j.updatedAt) })));
  }
  if (!HOST.jobIds.length) body.append(emptyRow(6, "No jobs on this host yet."));
}

// The inventory again (after agent.inventory, or on opening): the newest request wins.
async function refreshHostInventory() {
  const id = HOST.id;
  const promise = loadInventory(id);
  try {
    const inv = await promise;
    if (HOST.id !== id || INVENTORIES.get(id) !== promise) return;
    HOST.inventory = inv; HOST.inventoryError = "";
  } catch (err) {
    if (HOST.id !== id) return;
    HOST.inventoryError = "The inventory could not be loaded: " + err.message;
    viewFailed();
  }
  renderInventory(); renderHostState();
}
async function refreshHostJobs() {
  const id = HOST.id;
  try {
    const asOf = S.seq;
    const page = await api("GET", "/v1/jobs?" + new URLSearchParams({ agentId: id, limit: String(HOST_JOBS) }));
    if (HOST.id !== id) return;
    HOST.jobIds = page.jobs.map((j) => putJob(j, asOf).id);
  } catch (err) { $("host-error").textContent = "Its jobs could not be loaded: " + err.message; viewFailed(); }
  renderHostJobs();
}

function openHost(id) {
  HOST.id = id; HOST.inventory = null; HOST.inventoryError = ""; HOST.jobIds = [];
  $("host-name").textContent = id; $("host-note").textContent = ""; $("host-error").textContent = "";
  $("host-all-jobs").href = "#/jobs?agentId=" + encodeURIComponent(id);
  INVENTORIES.delete(id);  // opening the page reads the host afresh
  renderHostState(); renderInventory(); renderHostJobs();
  refreshHostInventory(); refreshHostJobs();
  if (!HOST.ticker) HOST.ticker = setInterval(tickUptimes, 1000);
}

AGENT_LISTENERS.push((agentId) => { if (S.route.name === "host" && agentId === HOST.id) renderHostState(); });
EVENT_LISTENERS.push((e) => {
  if (e.type === "agent.inventory" && e.agentId) {
    INVENTORIES.delete(e.agentId);
    if (S.route.name === "host" && e.agentId === HOST.id) refreshHostInventory();
    if (S.route.name === "enqueue" && $("e-agent").value.trim() === e.agentId) offerHostIds();
  }
  if (S.route.name !== "host" || !e.jobId) return;
  const j = S.jobs.get(e.jobId);
  if (!j || j.agentId !== HOST.id) return;
  if (!HOST.jobIds.includes(j.id)) HOST.jobIds = [j.id, ...HOST.jobIds].slice(0, HOST_JOBS);
  renderHostJobs();
});

addView("host", { nav: "fleet", detailOf: "hosts", open: (id) => openHost(id) });
