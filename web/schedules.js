// The schedules list with a form for a new one, and one schedule's page (docs/protocol.md
// "Schedules", docs/decisions/0017 and 0022): its steps, its next fires in its own time zone, its
// recent fires with their jobs, "fire now", disable/enable and delete. Live from the stream's
// schedule.* events; its fires' jobs from the job events. Loaded after app.js.
"use strict";
const SC = {
  list: new Map(), listIds: [], cursor: null,
  lastFire: new Map(),  // id -> its newest fire (the list's lastFires, then schedule.fired events)
  listBusy: false, listAgain: false,
  page: null,           // the open schedule: {id, schedule, busy, again, deleted}
};

// A UTC instant (RFC 3339) in the IANA zone `zone`: "Sun 2026-12-07 04:00 GMT+11". The browser
// has the zone data (Intl.DateTimeFormat); seconds only where a 6-field cron gives them.
function zoneTime(iso, zone) {
  let format;
  try {
    format = new Intl.DateTimeFormat("en-US", { timeZone: zone, weekday: "short", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      timeZoneName: "shortOffset" });
  } catch { return shortTime(iso) + " (this browser does not know " + zone + ")"; }
  const p = Object.fromEntries(format.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return p.weekday + " " + p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute +
    (p.second !== "00" ? ":" + p.second : "") + " " + p.timeZoneName;
}
const targetText = (t) => t.selector ? "labels " + Object.entries(t.selector.labels).map(([k, v]) => k + "=" + v).join(" ")
  : "agents " + (t.agentIds || []).join(", ");

// ---- the list -----------------------------------------------------------------------------------
async function openSchedules() {
  if (SC.listBusy) { SC.listAgain = true; return; }
  SC.listBusy = true;
  try {
    do {
      SC.listAgain = false;
      const data = await api("GET", "/v1/schedules?limit=100");
      SC.listIds = data.schedules.map(keepListed);
      SC.cursor = data.nextCursor || null; $("schedules-error").textContent = "";
      renderSchedules();
    } while (SC.listAgain);
  } catch (err) { $("schedules-error").textContent = err.message; viewFailed(); } finally { SC.listBusy = false; }
}
async function moreSchedules() {
  try {
    const data = await api("GET", "/v1/schedules?limit=100&cursor=" + encodeURIComponent(SC.cursor));
    SC.listIds.push(...data.schedules.map(keepListed));
    SC.cursor = data.nextCursor || null;
    renderSchedules();
  } catch (err) { $("schedules-error").textContent = err.message; }
}
// A schedule of GET /v1/schedules: its lastFires holds only its newest fire.
function keepListed(s) {
  SC.list.set(s.id, s);
  SC.lastFire.set(s.id, (s.lastFires || [])[0] || null);
  return s.id;
}
function renderSchedules() {
  const body = $("schedules"); body.replaceChildren();
  for (const id of SC.listIds) {
    const s = SC.list.get(id); if (!s) continue;
    const next = (s.nextFires || [])[0], last = SC.lastFire.get(id);
    body.appendChild(el("tr", { "data-schedule": s.id },
      el("td", {}, el("a", { href: "#/schedules/" + s.id, text: s.name })),
      el("td", { class: "mono", text: s.cron }), el("td", { text: s.timeZone }),
      el("td", { class: s.enabled ? "online" : "offline", text: s.enabled ? "enabled" : "disabled" }),
      el("td", { class: "mono next-fire", title: next || "", text: next && s.enabled ? zoneTime(next, s.timeZone) : "" }),
      el("td", { class: "mono last-fire", title: last ? last.fireTime : "", text: last ? zoneTime(last.fireTime, s.timeZone) + " (" + last.jobCount + (last.jobCount === 1 ? " job)" : " jobs)") : "" }),
      el("td", { text: s.steps.map((x) => x.type).join(" → ") })));
  }
  if (!SC.listIds.length) body.appendChild(el("tr", {}, el("td", { colSpan: 7, class: "hint", text: "No schedules yet." })));
  $("schedules-more").hidden = !SC.cursor;
}

// ---- a new schedule (POST /v1/schedules) --------------------------------------------------------
function openNewSchedule() {
  const zones = $("sc-zones");
  if (!zones.options.length && Intl.supportedValuesOf) {
    zones.replaceChildren(...Intl.supportedValuesOf("timeZone").map((z) => el("option", { value: z })));
  }
  if (!$("sc-zone").value) $("sc-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
// "steps[1].payload.keepLast" goes to the steps field, with the whole path in its message.
const showScheduleProblems = (err) => showFormProblems($("sc-form"), $("sc-error"), err);
async function submitSchedule(ev) {
  ev.preventDefault();
  const local = [];
  const body = { name: $("sc-name").value.trim(), cron: $("sc-cron").value.trim(), overlap: $("sc-overlap").value, catchUp: $("sc-catchUp").value };
  const zone = $("sc-zone").value.trim(); if (zone) body.timeZone = zone;
  const labels = labelsOf("sc-labels", "target", local), agents = commaList("sc-agents");
  if (agents.length && Object.keys(labels).length) local.push({ field: "target", problem: "give labels or agents, not both" });
  body.target = agents.length ? { agentIds: agents } : { selector: { labels } };
  try { body.steps = JSON.parse($("sc-steps").value || "null"); } catch (e) { local.push({ field: "steps", problem: "is not valid JSON: " + e.message }); }
  if (local.length) return showScheduleProblems({ code: "invalid_request", message: "fix the marked fields", details: local });
  $("sc-submit").disabled = true;
  try {
    const created = await api("POST", "/v1/schedules", body);
    $("sc-form").reset(); $("sc-new").open = false; clearFormErrors($("sc-form"), $("sc-error"));
    location.hash = "#/schedules/" + created.id;
  } catch (err) { showScheduleProblems(err); } finally { $("sc-submit").disabled = false; lockOperatorButtons(); }
}

// ---- one schedule -------------------------------------------------------------------------------
async function openSchedule(id) {
  const page = SC.page = { id, schedule: null, busy: false, again: false, deleted: false };
  $("schedule-error").textContent = ""; $("schedule-name").textContent = "Schedule " + id; $("schedule-enabled").textContent = "";
  for (const box of ["schedule-fields", "schedule-steps", "schedule-next", "schedule-fires"]) $(box).replaceChildren();
  // Nothing of the schedule shown before stays while this one loads (or fails to).
  $("schedule-zone").textContent = "";
  for (const b of ["schedule-fire", "schedule-toggle", "schedule-delete"]) $(b).disabled = true;
  await refreshSchedule(page);
  // The statuses of its fires' jobs: the newest jobs of the schedule once, then the job events.
  try {
    const asOf = S.seq;
    const jobs = await api("GET", "/v1/jobs?limit=200&scheduleId=" + encodeURIComponent(id));
    jobs.jobs.forEach((j) => putJob(j, asOf));
    if (SC.page === page) renderFires();
  } catch (err) { console.warn("schedule jobs", err); }
}
async function refreshSchedule(page) {
  if (page.busy) { page.again = true; return; }
  page.busy = true;
  try {
    do {
      page.again = false;
      const s = await api("GET", "/v1/schedules/" + page.id);
      if (SC.page !== page) return;
      page.schedule = s; SC.list.set(s.id, s); SC.lastFire.set(s.id, (s.lastFires || [])[0] || null);
      renderSchedule();
    } while (page.again);
  } catch (err) {
    if (SC.page === page) { $("schedule-error").textContent = err.message; viewFailed(); }
  } finally { page.busy = false; }
}
function renderSchedule() {
  const page = SC.page; if (!page || !page.schedule) return;
  const s = page.schedule;
  $("schedule-name").textContent = s.name;
  $("schedule-jobs").href = "#/jobs?scheduleId=" + encodeURIComponent(s.id);
  const en = $("schedule-enabled");
  en.textContent = page.deleted ? "deleted" : s.enabled ? "enabled" : "disabled";
  en.className = page.deleted || !s.enabled ? "offline" : "online";
  $("schedule-fire").disabled = page.deleted;
  $("schedule-fire").title = page.deleted ? "The schedule was deleted." : "Fires now, also a disabled schedule.";
  $("schedule-toggle").textContent = s.enabled ? "Disable" : "Enable";
  $("schedule-toggle").title = s.enabled ? "No fire until it is enabled again (fire now still works)." : "Fires again from now on: the fires missed meanwhile do not run.";
  $("schedule-toggle").disabled = $("schedule-delete").disabled = page.deleted;
  lockOperatorButtons();
  const kv = $("schedule-fields"); kv.replaceChildren();
  const add = (k, v) => kv.append(el("div", { text: k }), el("div", { class: "mono", text: v }));
  add("id", s.id); add("cron", s.cron); add("time zone", s.timeZone); add("target", targetText(s.target));
  add("overlap", s.overlap + (s.overlap === "skip" ? " (a host whose last chain has not ended gets none)" : " (the new chain waits for the last one)"));
  add("catch up", s.catchUp); add("created", shortTime(s.createdAt)); add("updated", shortTime(s.updatedAt));
  const steps = $("schedule-steps"); steps.replaceChildren();
  s.steps.forEach((st, i) => {
    const options = ["priority", "exclusive", "maxAttempts", "retryBackoffSeconds", "timeoutSeconds"]
      .filter((k) => st[k] !== undefined && st[k] !== null).map((k) => k + "=" + st[k]).join(" ");
    steps.appendChild(el("tr", { "data-step": String(i) }, el("td", { text: String(i + 1) }), el("td", { text: st.type }),
      el("td", { text: text(st.instanceId || st.serverId) }), el("td", { class: "mono", text: JSON.stringify(st.payload || {}) }),
      el("td", { class: "mono", text: options })));
  });
  $("schedule-zone").textContent = page.deleted ? "(deleted: it fires no more)"
    : "(" + s.timeZone + ", with the UTC offset of each fire" + (s.enabled ? ")" : "; disabled: none fires until it is enabled)");
  const next = $("schedule-next"); next.replaceChildren();
  for (const t of page.deleted ? [] : s.nextFires || []) {
    next.appendChild(el("tr", { "data-fire": t }, el("td", { class: "mono zone-time", text: zoneTime(t, s.timeZone) }), el("td", { class: "mono", text: shortTime(t) })));
  }
  renderFires();
}
function renderFires() {
  const page = SC.page; if (!page || !page.schedule) return;
  const s = page.schedule;
  const fires = $("schedule-fires"); fires.replaceChildren();
  for (const f of s.lastFires || []) {
    const jobs = el("td", { class: "mono" });
    f.jobIds.forEach((id, i) => {
      const j = S.jobs.get(id);
      if (i) jobs.append(" ");
      jobs.append(el("a", { href: "#/jobs/" + id, "data-job": id, class: j ? "st-" + j.status : "", title: j ? j.type + " on " + j.agentId + ": " + j.status : id,
        text: (j ? j.type + "@" + j.agentId + " " + j.status : id.slice(-12)) }));
    });
    if (f.jobCount > f.jobIds.length) jobs.append(" and " + (f.jobCount - f.jobIds.length) + " more");
    if (!f.jobCount) jobs.append(el("span", { class: "hint", text: "no host matched" }));
    fires.appendChild(el("tr", { "data-fire": f.fireTime }, el("td", { class: "mono zone-time", text: zoneTime(f.fireTime, s.timeZone) }),
      el("td", { class: "mono", text: shortTime(f.fireTime) }), jobs));
  }
  if (!(s.lastFires || []).length) fires.appendChild(el("tr", {}, el("td", { colSpan: 3, class: "hint", text: "Not fired yet." })));
}
async function fireNow() {
  const page = SC.page; if (!page) return;
  $("schedule-error").textContent = "";
  try {
    const asOf = S.seq;
    const fired = await api("POST", "/v1/schedules/" + page.id + "/fire");
    fired.jobs.forEach((j) => putJob(j, asOf));
    if (SC.page !== page) return;
    const fires = page.schedule.lastFires || (page.schedule.lastFires = []);
    if (!fires.some((f) => f.fireTime === fired.fireTime)) {
      fires.unshift({ fireTime: fired.fireTime, jobCount: fired.jobs.length, jobIds: fired.jobs.map((j) => j.id).slice(0, 100) });
    }
    renderFires();
  } catch (err) { $("schedule-error").textContent = err.code + ": " + err.message; }
}

async function toggleSchedule() {
  const page = SC.page; if (!page || !page.schedule) return;
  $("schedule-error").textContent = "";
  try {
    page.schedule = await api("PATCH", "/v1/schedules/" + page.id, { enabled: !page.schedule.enabled });
    if (SC.page === page) renderSchedule();
  } catch (err) { $("schedule-error").textContent = err.code + ": " + err.message; }
}
async function deleteSchedule() {
  const page = SC.page; if (!page || !page.schedule) return;
  if (!confirm("Delete the schedule " + page.schedule.name + "? Its jobs stay.")) return;
  $("schedule-error").textContent = "";
  try {
    await api("DELETE", "/v1/schedules/" + page.id);
    page.deleted = true;
    if (SC.page === page) renderSchedule();
  } catch (err) { $("schedule-error").textContent = err.code + ": " + err.message; }
}

// ---- the stream ---------------------------------------------------------------------------------
EVENT_LISTENERS.push((e) => {
  if (e.scheduleId && e.type.startsWith("schedule.")) {
    if (S.route.name === "schedules") openSchedules();
    const page = SC.page;
    if (S.route.name === "schedule" && page && page.id === e.scheduleId) {
      if (e.type === "schedule.deleted") { page.deleted = true; renderSchedule(); } else refreshSchedule(page);
    }
    return;
  }
  // A job of a fire on screen changed: its status beside its link.
  if (e.jobId && S.route.name === "schedule" && SC.page && SC.page.schedule &&
      (SC.page.schedule.lastFires || []).some((f) => f.jobIds.includes(e.jobId))) renderFires();
});

$("schedules-more").onclick = () => moreSchedules();
$("schedule-fire").onclick = () => fireNow();
$("schedule-toggle").onclick = () => toggleSchedule();
$("schedule-delete").onclick = () => deleteSchedule();
$("sc-new").ontoggle = () => { if ($("sc-new").open) openNewSchedule(); };
$("sc-form").onsubmit = submitSchedule;
addView("schedules", { nav: "schedules", open: () => openSchedules() });
addView("schedule", { nav: "schedules", detailOf: "schedules", open: (id) => openSchedule(id) });
