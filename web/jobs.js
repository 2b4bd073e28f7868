// The jobs list and one job's page (runs, events, logs, cancel and retry).
// Loaded after app.js (its state S, api, el, addView).
"use strict";
// ---- jobs list ----------------------------------------------------------------------------------
// GET /v1/jobs's filters (docs/protocol.md); the rollout and schedule pages link here with theirs.
const FILTER_KEYS = ["agentId", "status", "type", "instanceId", "batchId", "rolloutId", "scheduleId"];
function listFilter() {
  const f = {};
  for (const k of FILTER_KEYS) { const v = S.route.query.get(k); if (v) f[k] = v; }
  return f;
}
function matches(job, f) { return FILTER_KEYS.every((k) => !f[k] || job[k] === f[k]); }
async function openJobList() {
  const f = listFilter();
  const form = $("job-filters");
  for (const k of FILTER_KEYS) form.elements[k].value = f[k] || "";
  const q = new URLSearchParams(Object.assign({ limit: "100" }, f));
  try {
    const asOf = S.seq;
    const page = await api("GET", "/v1/jobs?" + q);
    S.listIds = page.jobs.map((j) => putJob(j, asOf).id);
    S.listCursor = page.nextCursor || null; $("jobs-error").textContent = "";
  } catch (err) { $("jobs-error").textContent = err.message; S.listIds = []; viewFailed(); }
  renderJobs();
}
async function loadMore() {
  const q = new URLSearchParams(Object.assign({ limit: "100", cursor: S.listCursor }, listFilter()));
  const asOf = S.seq;
  const page = await api("GET", "/v1/jobs?" + q);
  S.listIds.push(...page.jobs.map((j) => putJob(j, asOf).id));
  S.listCursor = page.nextCursor || null; renderJobs();
}
function progressBar(job, big) {
  const pct = job.status === "COMPLETED" ? 100 : Math.max(0, Math.min(100, job.percent || 0));
  const bar = el("div", { class: big ? "bar big" : "bar", title: pct + "%" }, el("div"));
  bar.firstChild.style.width = pct + "%";
  bar.setAttribute("data-percent", String(pct));
  return bar;
}
function renderJobs() {
  const body = $("jobs"); body.replaceChildren();
  for (const id of S.listIds || []) {
    const j = S.jobs.get(id); if (!j) continue;
    body.appendChild(el("tr", { "data-job": j.id },
      el("td", { class: "mono" }, el("a", { href: "#/jobs/" + j.id, text: j.id.slice(-12) })),
      el("td", { text: text(j.type) }), el("td", { text: text(j.agentId) }),
      el("td", { text: text(j.instanceId || j.serverId) }),
      el("td", { class: "st-" + j.status, text: text(j.status) + (j.cancelRequested && !FINAL.has(j.status) ? " (cancelling)" : "") }),
      el("td", {}, progressBar(j), " ", el("span", { class: "hint", text: text(j.message) })),
      el("td", { class: "mono", text: shortTime(j.updatedAt) })));
  }
  // An empty list says so only when it was read: after a failed load the error says it all.
  if (!(S.listIds || []).length && !$("jobs-error").textContent) {
    body.appendChild(el("tr", {}, el("td", { colSpan: 7, class: "hint", text: "No jobs match." })));
  }
  $("more").hidden = !S.listCursor;
}

// ---- one job ------------------------------------------------------------------------------------
async function openJob(id) {
  S.page = { id, events: new Map(), logSeq: {}, logBusy: false, logAgain: false };
  // Nothing of the job shown before stays on screen while this one loads (or fails to).
  $("events").replaceChildren(); $("log").replaceChildren(); $("action-error").textContent = "";
  $("log-dropped").hidden = true;
  $("job-type").textContent = "Job " + id; $("job-status").textContent = ""; $("job-status").className = "";
  $("job-bar").replaceWith(Object.assign(progressBar({ percent: 0 }, true), { id: "job-bar" }));
  $("job-percent").textContent = ""; $("job-message").textContent = ""; $("action-reason").textContent = "";
  $("job-fields").replaceChildren(); $("runs").replaceChildren();
  $("cancel").disabled = $("retry").disabled = true;
  try {
    const asOf = S.seq;
    const [job, events] = await Promise.all([api("GET", "/v1/jobs/" + id), api("GET", "/v1/jobs/" + id + "/events")]);
    if (!S.page || S.page.id !== id) return;
    S.page.job = job; putJob(job, asOf);
    for (const e of events.events) S.page.events.set(e.seq, e);
  } catch (err) {
    if (S.page && S.page.id === id) { $("action-error").textContent = err.message; viewFailed(); }
    return;
  }
  renderJob(); renderEvents(); fetchLogs();
}
function renderJob() {
  if (!S.page || !S.page.job) return;
  const j = Object.assign({}, S.page.job, S.jobs.get(S.page.id));
  const info = S.typeByName.get(j.type);
  $("job-type").textContent = j.type;
  const st = $("job-status"); st.textContent = j.status + (j.cancelRequested && !FINAL.has(j.status) ? " (cancel requested)" : ""); st.className = "st-" + j.status;
  $("job-bar").replaceWith(Object.assign(progressBar(j, true), { id: "job-bar" }));
  const pct = j.status === "COMPLETED" ? 100 : j.percent;
  $("job-percent").textContent = pct === null || pct === undefined ? "" : pct + "%";
  // The last progress message ("running", "archiving") says nothing once the job is final.
  $("job-message").textContent = FINAL.has(j.status) ? "" : text(j.message);
  // Cancel: CREATED/QUEUED always; RUNNING only for cancellable types (protocol.md §5).
  let reason = "";
  const cancel = $("cancel"), retry = $("retry");
  if (FINAL.has(j.status)) reason = "The job is " + j.status + ": nothing to cancel.";
  else if (j.status === "RUNNING" && info && !info.cancellable) reason = j.type + " cannot be cancelled once running: " + info.notCancellableReason;
  else if (j.cancelRequested) reason = "Cancel requested; the agent stops at its next safe point.";
  else if (j.status === "RUNNING" && info && info.cancellableUntil) reason = "Cancellable " + info.cancellableUntil + ".";
  cancel.disabled = FINAL.has(j.status) || j.cancelRequested || (j.status === "RUNNING" && info && !info.cancellable);
  cancel.title = reason;
  // A job cancelled because a dependency did not complete would run without it (protocol.md
  // "Job dependencies"): the server refuses its retry, so the button says why.
  const depFailed = j.lastError && j.lastError.code === "dependency_failed";
  retry.disabled = !(j.status === "FAILED" || j.status === "CANCELLED") || depFailed;
  retry.title = depFailed ? "Cancelled because a dependency did not complete; it cannot be retried."
    : retry.disabled ? "Only a FAILED or CANCELLED job can be retried." : "";
  $("action-reason").textContent = reason;
  lockOperatorButtons();
  const kv = $("job-fields"); kv.replaceChildren();
  const add = (k, v) => addField(kv, k, v);
  add("id", j.id); add("agent", j.agentId); add("instance", j.instanceId); add("server", j.serverId);
  add("payload", j.payload); add("priority", j.priority); add("attempts", j.attempts + " of " + j.maxAttempts);
  add("timeout", j.timeoutSeconds ? j.timeoutSeconds + " s" : ""); add("notBefore", j.notBefore);
  add("batch", j.batchId); add("created", shortTime(j.createdAt)); add("updated", shortTime(j.updatedAt));
  // Dependencies as links; what it still waits for only while it waits (CREATED).
  const links = (ids) => el("div", { class: "mono" }, ...ids.flatMap((id, i) => [i ? ", " : "", el("a", { href: "#/jobs/" + id, text: id })]));
  if ((j.dependsOn || []).length) kv.append(el("div", { text: "depends on" }), links(j.dependsOn));
  const waiting = j.status === "CREATED" ? (j.waitingFor || []) : [];
  if (waiting.length) kv.append(el("div", { text: "waiting for" }), Object.assign(links(waiting), { id: "job-waiting" }));
  add("last error", j.lastError ? j.lastError.code + ": " + j.lastError.message : null); add("result", j.result);
  const runs = $("runs"); runs.replaceChildren();
  for (const r of (S.page.job.runs || [])) {
    runs.appendChild(el("tr", { "data-run": r.id },
      el("td", { class: "mono", text: r.id.slice(-12) }), el("td", { text: text(r.attempt) }),
      el("td", { class: "st-" + r.status, text: r.status }),
      el("td", { class: "mono", text: shortTime(r.startedAt) }), el("td", { class: "mono", text: shortTime(r.finishedAt) }),
      el("td", { text: (r.percent === null || r.percent === undefined ? "" : r.percent + "% ") + text(r.message) }),
      el("td", { class: "mono wrap", text: r.error ? r.error.code + ": " + r.error.message : r.result ? JSON.stringify(r.result) : "" })));
  }
}
function renderEvents() {
  const box = $("events"); box.replaceChildren();
  const events = [...S.page.events.values()].sort((a, b) => a.seq - b.seq);
  for (const e of events) {
    box.appendChild(el("div", { "data-seq": String(e.seq), text: [shortTime(e.timestamp), e.type, text(e.status),
      e.percent === null || e.percent === undefined ? "" : e.percent + "%", text(e.message),
      e.error ? e.error.code + ": " + e.error.message : ""].filter(Boolean).join("  ") }));
  }
  box.scrollTop = box.scrollHeight;
}
// Log lines are fetched when the stream says something happened to the job (never on a timer).
async function fetchLogs() {
  const page = S.page;
  if (!page || page.logBusy) { if (page) page.logAgain = true; return; }
  page.logBusy = true;
  try {
    do {
      page.logAgain = false;
      const runId = page.job && page.job.currentRunId;
      const q = runId && page.logSeq[runId] !== undefined ? "?runId=" + runId + "&after=" + page.logSeq[runId] : "?limit=10000";
      const data = await api("GET", "/v1/jobs/" + page.id + "/logs" + q);
      if (S.page !== page) return;
      const box = $("log");
      for (const l of data.lines) {
        if (page.logSeq[l.runId] !== undefined && l.seq <= page.logSeq[l.runId]) continue;
        page.logSeq[l.runId] = l.seq;
        box.appendChild(el("div", { class: "lvl-" + l.level, text: shortTime(l.timestamp) + " " + l.level.padEnd(5) + " " + l.message }));
      }
      box.scrollTop = box.scrollHeight;
      const oneRun = (runId && q.startsWith("?runId")) || (page.job.runs || []).length <= 1;
      showDropped(data, oneRun ? "the run" : "the job's runs");
    } while (page.logAgain);
  } catch (err) { console.warn("logs", err); } finally { page.logBusy = false; }
}
// Lines past fleet-cmdr's per-run log cap were acknowledged but not stored (docs/decisions/0020):
// the same note as fleetctl logs, below the lines.
function showDropped(data, subject) {
  const note = $("log-dropped");
  if (!data.logsDropped) return;
  const count = (n) => Number(n).toLocaleString("en-US");
  const bytes = (b) => b % 1048576 === 0 ? count(b / 1048576) + " MiB" : b % 1024 === 0 ? count(b / 1024) + " KiB" : count(b) + " bytes";
  const cap = data.logCap || {};
  const parts = [];
  if (cap.maxLines > 0) parts.push(count(cap.maxLines) + (cap.maxLines === 1 ? " line" : " lines"));
  if (cap.maxBytes > 0) parts.push(bytes(cap.maxBytes));
  note.textContent = count(data.logsDropped) + (data.logsDropped === 1 ? " log line" : " log lines") +
    " dropped: " + subject + " reached fleet-cmdr's cap" + (parts.length ? " of " + parts.join(" / ") : "");
  note.hidden = false;
}
// The list follows its filter live: a job that comes to match it (created, or reaching the status
// filtered on) joins it at its place (newest first; ids rise with creation time), unless it
// belongs to a page not loaded yet; one that no longer matches leaves it.
function followFilter(j, e, fresh) {
  const f = listFilter();
  const ids = S.listIds || (S.listIds = []);
  const listed = ids.includes(j.id);
  const matching = matches(j, f);
  if (listed && !matching) { S.listIds = ids.filter((id) => id !== j.id); return true; }
  if (listed || !matching) return listed;
  const last = ids[ids.length - 1];
  if (S.listCursor && last !== undefined && j.id < last) return false;  // on a later page
  let at = ids.findIndex((id) => id < j.id);
  if (at < 0) at = ids.length;
  ids.splice(at, 0, j.id);
  if (fresh && e.type === "job.created") {
    const asOf = S.seq;
    api("GET", "/v1/jobs/" + j.id).then((full) => { putJob(full, asOf); renderJobs(); }).catch(() => {});
  }
  return true;
}
function onJobChanged(j, e, fresh) {
  if (S.route.name === "jobs" && followFilter(j, e, fresh)) renderJobs();
  // A dependency of the job on screen completed: it no longer waits for it.
  const page = S.page && S.page.job;
  if (S.route.name === "job" && page && e.type === "job.completed" && (page.waitingFor || []).includes(j.id)) {
    page.waitingFor = page.waitingFor.filter((id) => id !== j.id);
    renderJob();
  }
  if (S.route.name === "job" && S.page && S.page.id === j.id) {
    S.page.events.set(e.seq, e);
    if (e.runId && S.page.job) {
      S.page.job.currentRunId = e.runId;
      const runs = S.page.job.runs || (S.page.job.runs = []);
      let run = runs.find((r) => r.id === e.runId);
      if (!run) { run = { id: e.runId, attempt: e.attempt, status: "RUNNING", startedAt: e.timestamp }; runs.push(run); }
      if (e.type === "job.progress") { if (e.percent !== null && e.percent !== undefined) run.percent = e.percent; if (e.message) run.message = e.message; }
      const status = STATUS_OF_EVENT[e.type];
      if (status && FINAL.has(status)) { run.status = status; run.finishedAt = e.timestamp; if (e.error) run.error = e.error; }
    }
    if (S.page.job) Object.assign(S.page.job, { status: j.status, cancelRequested: j.cancelRequested, updatedAt: j.updatedAt });
    renderJob(); renderEvents(); fetchLogs();
    // A final state carries the result and the run's error: take the whole record once.
    if (FINAL.has(j.status) || e.type === "job.retried") {
      const asOf = S.seq;
      api("GET", "/v1/jobs/" + j.id).then((full) => { if (S.page && S.page.id === full.id) { S.page.job = full; putJob(full, asOf); renderJob(); } }).catch(() => {});
    }
  }
}
async function jobAction(action) {
  $("action-error").textContent = "";
  try {
    const asOf = S.seq;
    const job = await api("POST", "/v1/jobs/" + S.page.id + "/" + action);
    if (job && job.id) { S.page.job = Object.assign(S.page.job, job); putJob(job, asOf); renderJob(); }
  } catch (err) { $("action-error").textContent = err.code + ": " + err.message; }
}

$("more").onclick = () => loadMore();
$("cancel").onclick = () => jobAction("cancel");
$("retry").onclick = () => jobAction("retry");
$("job-filters").onsubmit = (e) => {
  e.preventDefault();
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) { const v = e.target.elements[k].value.trim(); if (v) q.set(k, v); }
  location.hash = "#/jobs" + (q.toString() ? "?" + q : "");
};
$("job-filters").onreset = () => setTimeout(() => { location.hash = "#/jobs"; }, 0);

addView("jobs", { nav: "jobs", open: () => openJobList() });
addView("job", { nav: "jobs", detailOf: "jobs", open: (id) => openJob(id) });
