// Browser tests of the web UI's rollout and schedule pages (docs/protocol.md "Rollouts" and
// "Schedules"), against a real fleet-cmdr and three real orb-jobs-agent-testbed agents `ro-1..3`
// (label fleet=ops), whose VERIFY_BACKUP handler reports 50 % and then waits at a safe point until
// `<root>/release` exists: a host's job runs for exactly as long as the test wants. `idle-1` and
// `sched-1` are enrolled but never run: their jobs stay queued (or waiting for their step before).
//
// Screenshots of every test are kept in ORB_ARTIFACTS_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Harness, TESTBED, WAIT, waitFor } from "./harness.mjs";

const h = new Harness();
h.logPrefix = "fleet-ops-";
const api = (...args) => h.api(...args);
const roots = {};
const release = (agent) => fs.writeFileSync(path.join(roots[agent], "release"), "");
const tile = (agent, status) => `#rollout-hosts [data-agent="${agent}"][data-status="${status}"]`;
const phaseCell = (k, cell) => `#rollout-phases tr[data-phase="${k}"] td.${cell}`;
// Submits a create form and waits for the page of what it created (#/<kind>/<id>); answers that
// object as GET /v1/<kind>/<id> gives it.
const submitAndOpen = async (page, button, kind) => {
  await page.click(button);
  await page.waitForURL(new RegExp(`#/${kind}/[^/]+$`), { timeout: WAIT });
  return api("GET", `/v1/${kind}/` + decodeURIComponent(page.url().split("/").pop()));
};
let viewerToken;

before(async () => {
  await h.setUp();
  for (const name of ["ro-1", "ro-2", "ro-3"]) roots[name] = await h.startAgent(name, TESTBED, { fleet: "ops" });
  await api("POST", "/v1/agents", { agentId: "idle-1" });
  await api("POST", "/v1/agents", { agentId: "sched-1" });
  viewerToken = (await api("POST", "/v1/tokens", { role: "viewer", name: "eyes" })).token;
  await h.launchBrowser();
});

after(() => h.tearDown());

test("a rollout's host grid fills in live, phase by phase: running, then completed", async () => {
  const page = await h.signedInPage();
  await page.click('a[data-route="rollouts"]');
  await page.waitForSelector("#rollouts tr", { timeout: WAIT });
  await page.evaluate(() => { window.notReloaded = true; });
  // Phase 1 takes ceil(34 % of 3) = 2 hosts (ro-1, ro-2), phase 2 the last one once both are final.
  const rollout = await api("POST", "/v1/rollouts", { name: "verify everywhere", target: { selector: { labels: { fleet: "ops" } } },
    job: { type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "r-1" } },
    policy: { maxInFlight: "100%", phases: [{ percent: 34 }, { percent: 100 }] } });
  // The list learns of it from the stream (rollout.created), then its page.
  await page.waitForSelector(`tr[data-rollout="${rollout.id}"] td.rs-RUNNING`, { timeout: WAIT });
  await page.click(`tr[data-rollout="${rollout.id}"] a`);
  await page.waitForSelector(tile("ro-1", "running"), { timeout: WAIT });
  await page.waitForSelector(tile("ro-2", "running"), { timeout: WAIT });
  await page.waitForSelector(tile("ro-3", "pending"), { timeout: WAIT });
  assert.equal(await page.textContent("#rollout-status"), "RUNNING");
  assert.equal(await page.textContent(phaseCell(0, "phase-state")), "open");
  assert.equal(await page.textContent(phaseCell(0, "phase-done")), "0 / 2");
  assert.equal(await page.textContent(phaseCell(1, "phase-state")), "not started");
  assert.match(await page.textContent("#rollout-fields"), /max in flight\s*100%/);
  await h.shot(page, "fo-01-rollout-phase-1-running");

  release("ro-1"); release("ro-2");
  await page.waitForSelector(tile("ro-1", "completed"), { timeout: WAIT });
  await page.waitForSelector(tile("ro-2", "completed"), { timeout: WAIT });
  // The second phase opens: ro-3, pending when the page was loaded, runs.
  await page.waitForSelector(tile("ro-3", "running"), { timeout: WAIT });
  await waitFor("phase 2 open", async () => (await page.textContent(phaseCell(1, "phase-state"))) === "open");
  assert.equal(await page.textContent(phaseCell(0, "phase-done")), "2 / 2");
  assert.equal(await page.textContent(phaseCell(0, "phase-state")), "done");
  await h.shot(page, "fo-02-rollout-phase-2-running");

  release("ro-3");
  await page.waitForSelector(tile("ro-3", "completed"), { timeout: WAIT });
  await page.waitForSelector("#rollout-status.rs-COMPLETED", { timeout: WAIT });
  await waitFor("the completed count", async () => (await page.textContent('#rollout-counts [data-count="completed"] b')) === "3");
  assert.equal(await page.isEnabled("#rollout-pause"), false);
  assert.equal(await page.isEnabled("#rollout-abort"), false);
  // Every tile links to its host's job.
  const job = await page.getAttribute(tile("ro-3", "completed"), "href");
  const hosts = (await api("GET", `/v1/rollouts/${rollout.id}/hosts`)).hosts;
  assert.equal(job, "#/jobs/" + hosts.find((x) => x.agentId === "ro-3").jobId);
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await h.shot(page, "fo-03-rollout-completed");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("pause, resume and abort from the rollout's page", async () => {
  // Every job of the last test is final: the agents wait for a new release from here on.
  for (const name of Object.keys(roots)) fs.rmSync(path.join(roots[name], "release"), { force: true });
  const rollout = await api("POST", "/v1/rollouts", { name: "one at a time", target: { agentIds: ["ro-1", "ro-2", "ro-3"] },
    job: { type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "r-2" } }, policy: { maxInFlight: 1 } });
  const page = await h.signedInPage();
  await page.goto(h.base + "/#/rollouts/" + rollout.id);
  await page.waitForSelector(tile("ro-1", "running"), { timeout: WAIT });
  assert.equal(await page.isEnabled("#rollout-resume"), false);

  await page.click("#rollout-pause");
  await page.waitForSelector("#rollout-status.rs-PAUSED", { timeout: WAIT });
  assert.equal(await page.textContent("#rollout-status"), "PAUSED");
  assert.equal(await page.textContent(phaseCell(0, "phase-state")), "open (paused)");
  assert.equal(await page.isEnabled("#rollout-pause"), false);
  assert.equal(await page.isEnabled("#rollout-resume"), true);
  assert.equal((await api("GET", "/v1/rollouts/" + rollout.id)).status, "PAUSED");
  await h.shot(page, "fo-04-rollout-paused");
  // A paused rollout's running job goes on, and its end shows on the page.
  release("ro-1");
  await page.waitForSelector(tile("ro-1", "completed"), { timeout: WAIT });
  await page.waitForSelector("#rollout-status.rs-PAUSED", { timeout: WAIT });
  fs.rmSync(path.join(roots["ro-1"], "release"));

  await page.click("#rollout-resume");
  await page.waitForSelector("#rollout-status.rs-RUNNING", { timeout: WAIT });
  await page.waitForSelector(tile("ro-2", "running"), { timeout: WAIT });

  // Abort, cancelling the running job: ro-2's job is cancelled at its safe point, ro-3 never starts.
  page.once("dialog", (dialog) => dialog.accept());
  await page.check("#rollout-cancel-running");
  await page.click("#rollout-abort");
  await page.waitForSelector("#rollout-status.rs-ABORTED", { timeout: WAIT });
  await page.waitForSelector(tile("ro-2", "cancelled"), { timeout: WAIT });
  assert.equal(await page.getAttribute('#rollout-hosts [data-agent="ro-3"]', "data-status"), "pending");
  assert.equal(await page.isEnabled("#rollout-abort"), false);
  assert.equal((await api("GET", "/v1/rollouts/" + rollout.id)).status, "ABORTED");
  await waitFor("why it was aborted", async () => /why aborted\s*an operator aborted it/.test(await page.textContent("#rollout-fields")));
  await h.shot(page, "fo-05-rollout-aborted");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a viewer's page has the operator buttons disabled from the start (GET /v1/whoami)", async () => {
  // idle-1 never asks for jobs: the rollout stays RUNNING with its one job queued.
  const rollout = await api("POST", "/v1/rollouts", { name: "idle", target: { agentIds: ["idle-1"] },
    job: { type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "r-3" } } });
  const page = await h.signedInPage(viewerToken);
  await page.goto(h.base + "/#/rollouts/" + rollout.id);
  await page.waitForSelector(tile("idle-1", "queued"), { timeout: WAIT });
  for (const button of ["#rollout-pause", "#rollout-resume", "#rollout-abort"]) {
    assert.equal(await page.isEnabled(button), false, button);
    assert.match(await page.getAttribute(button, "title"), /viewer/);
  }
  assert.equal((await api("GET", "/v1/rollouts/" + rollout.id)).status, "RUNNING");
  await h.shot(page, "fo-06-rollout-viewer");
  await page.close();
});

test("without GET /v1/whoami, a viewer's pause is refused: the page says so, changes nothing and disables the operator buttons", async () => {
  const rollout = await api("POST", "/v1/rollouts", { name: "idle-2", target: { agentIds: ["idle-1"] },
    job: { type: "VERIFY_BACKUP", instanceId: "web-2", payload: { backupId: "r-4" } } });
  const page = await h.signedInPage(viewerToken, async (p) => {
    // A fleet-cmdr that has no whoami call (older): the UI learns the role from the first 403.
    await p.route("**/v1/whoami", (r) => r.fulfill({ status: 404, contentType: "application/json",
      body: JSON.stringify({ error: { code: "not_found", message: "no such route" } }) }));
  });
  await page.goto(h.base + "/#/rollouts/" + rollout.id);
  await page.waitForSelector(tile("idle-1", "queued"), { timeout: WAIT });
  assert.equal(await page.isEnabled("#rollout-pause"), true);
  await page.click("#rollout-pause");
  await page.waitForFunction(() => document.getElementById("rollout-error").textContent.length > 0, null, { timeout: WAIT });
  assert.match(await page.textContent("#rollout-error"), /^forbidden: /);
  for (const button of ["#rollout-pause", "#rollout-resume", "#rollout-abort"]) {
    assert.equal(await page.isEnabled(button), false, button);
    assert.match(await page.getAttribute(button, "title"), /viewer/);
  }
  assert.equal((await api("GET", "/v1/rollouts/" + rollout.id)).status, "RUNNING");
  await page.close();
});

test("a rollout's page links to the jobs list filtered to that rollout", async () => {
  const mine = await api("POST", "/v1/rollouts", { name: "listed", target: { agentIds: ["idle-1"] },
    job: { type: "VERIFY_BACKUP", instanceId: "web-6", payload: { backupId: "r-6" } } });
  const other = await api("POST", "/v1/rollouts", { name: "not-listed", target: { agentIds: ["idle-1"] },
    job: { type: "VERIFY_BACKUP", instanceId: "web-7", payload: { backupId: "r-7" } } });
  const mineJobs = (await api("GET", "/v1/jobs?rolloutId=" + mine.id)).jobs.map((j) => j.id);
  const otherJobs = (await api("GET", "/v1/jobs?rolloutId=" + other.id)).jobs.map((j) => j.id);
  assert.equal(mineJobs.length, 1);
  assert.equal(otherJobs.length, 1);
  const page = await h.signedInPage();
  await page.goto(h.base + "/#/rollouts/" + mine.id);
  await page.waitForSelector(tile("idle-1", "queued"), { timeout: WAIT });
  await page.click("#rollout-jobs");
  await page.waitForSelector(`#jobs tr[data-job="${mineJobs[0]}"]`, { timeout: WAIT });
  const rows = await page.$$eval("#jobs tr[data-job]", (trs) => trs.map((tr) => tr.dataset.job));
  assert.deepEqual(rows, mineJobs);
  assert.equal(await page.inputValue("#f-rollout"), mine.id);
  assert.equal(page.lastError, undefined);
  await page.close();
});

// The UI's own formatting (web/schedules.js zoneTime), here to compute what the page must show
// from the API's nextFires (UTC): node's Intl has the same zone data as the browser.
function zoneTime(iso, zone) {
  const format = new Intl.DateTimeFormat("en-US", { timeZone: zone, weekday: "short", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    timeZoneName: "shortOffset" });
  const p = Object.fromEntries(format.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return p.weekday + " " + p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute +
    (p.second !== "00" ? ":" + p.second : "") + " " + p.timeZoneName;
}

test("a schedule in Australia/Sydney shows its next fires in Sydney's time; fire now creates its step jobs", async () => {
  const page = await h.signedInPage();
  await page.click('a[data-route="schedules"]');
  await page.waitForSelector("#schedules tr", { timeout: WAIT });
  const schedule = await api("POST", "/v1/schedules", { name: "nightly verify", cron: "0 4 * * *", timeZone: "Australia/Sydney",
    target: { agentIds: ["sched-1"] }, steps: [
      { type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "n-1" } },
      { type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "n-2" }, maxAttempts: 2 }] });
  // The list learns of it from the stream (schedule.created).
  const row = `tr[data-schedule="${schedule.id}"]`;
  await page.waitForSelector(row, { timeout: WAIT });
  assert.equal(await page.textContent(`${row} td.next-fire`), zoneTime(schedule.nextFires[0], "Australia/Sydney"));
  await page.click(`${row} a`);
  await page.waitForSelector("#schedule-next tr[data-fire]", { timeout: WAIT });

  const shown = await page.$$eval("#schedule-next tr[data-fire]", (rows) => rows.map((r) => [r.dataset.fire, r.querySelector(".zone-time").textContent]));
  assert.equal(shown.length, 5);
  assert.deepEqual(shown, schedule.nextFires.map((t) => [t, zoneTime(t, "Australia/Sydney")]));
  // By hand: 04:00 in Sydney is 17:00 UTC the day before under daylight saving time (GMT+11,
  // October to April), 18:00 UTC otherwise (GMT+10).
  for (const [t, local] of shown) {
    assert.match(local, /^\w{3} \d{4}-\d{2}-\d{2} 04:00 GMT\+1[01]$/);
    assert.equal(new Date(t).getUTCHours(), local.endsWith("GMT+11") ? 17 : 18, `${t} shown as ${local}`);
  }
  assert.match(await page.textContent("#schedule-zone"), /Australia\/Sydney/);
  assert.equal(await page.$$eval("#schedule-steps tr[data-step]", (rows) => rows.length), 2);
  assert.match(await page.textContent("#schedule-fires"), /Not fired yet/);
  await h.shot(page, "fo-07-schedule-next-fires");

  await page.click("#schedule-fire");
  await page.waitForSelector("#schedule-fires tr[data-fire] a[data-job]", { timeout: WAIT });
  const fired = (await api("GET", "/v1/schedules/" + schedule.id)).lastFires;
  assert.equal(fired.length, 1);
  assert.equal(fired[0].jobCount, 2);
  const links = await page.$$eval("#schedule-fires tr[data-fire] a[data-job]", (as) => as.map((a) => a.dataset.job));
  assert.deepEqual(links.sort(), [...fired[0].jobIds].sort());
  // The chain on sched-1: the first step queued, the second waiting for it.
  const jobs = (await api("GET", "/v1/jobs?scheduleId=" + schedule.id)).jobs;
  assert.deepEqual(jobs.map((j) => j.status).sort(), ["CREATED", "QUEUED"]);
  for (const j of jobs) {
    await page.waitForSelector(`#schedule-fires a[data-job="${j.id}"].st-${j.status}`, { timeout: WAIT });
  }
  await h.shot(page, "fo-08-schedule-fired");

  // A page opened now: the list (GET /v1/schedules) shows the newest fire, and the schedule's page
  // links to the jobs list filtered to the schedule.
  const other = await h.signedInPage();
  await other.click('a[data-route="schedules"]');
  const lastFire = `${row} td.last-fire`;
  await other.waitForFunction((sel) => (document.querySelector(sel) || {}).textContent, lastFire, { timeout: WAIT });
  assert.equal(await other.textContent(lastFire), zoneTime(fired[0].fireTime, "Australia/Sydney") + " (2 jobs)");
  await other.click(`${row} a`);
  await other.waitForSelector("#schedule-fires tr[data-fire]", { timeout: WAIT });
  await other.click("#schedule-jobs");
  await other.waitForFunction((n) => document.querySelectorAll("#jobs tr[data-job]").length === n, jobs.length, { timeout: WAIT });
  const listed = await other.$$eval("#jobs tr[data-job]", (trs) => trs.map((tr) => tr.dataset.job));
  assert.deepEqual(listed.sort(), jobs.map((j) => j.id).sort());
  assert.equal(other.lastError, undefined);
  await other.close();

  // Live: disabled through the API, the page says so without a reload.
  await page.evaluate(() => { window.notReloaded = true; });
  await api("PATCH", "/v1/schedules/" + schedule.id, { enabled: false });
  await waitFor("the schedule shown disabled", async () => (await page.textContent("#schedule-enabled")) === "disabled");
  // A cancelled step job shows as such beside its fire.
  const first = jobs.find((j) => j.status === "QUEUED");
  await api("POST", `/v1/jobs/${first.id}/cancel`);
  await page.waitForSelector(`#schedule-fires a[data-job="${first.id}"].st-CANCELLED`, { timeout: WAIT });
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await h.shot(page, "fo-09-schedule-live");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a rollout started from the enqueue form: fleet-cmdr's problems shown at their fields, then its page", async () => {
  for (const name of Object.keys(roots)) release(name);  // their jobs finish at once from here on
  const before = (await api("GET", "/v1/rollouts?limit=100")).rollouts.length;
  const page = await h.signedInPage();
  await page.goto(h.base + "/#/enqueue?type=VERIFY_BACKUP&mode=rollout");
  await page.waitForSelector("#e-rollout:not([hidden])", { timeout: WAIT });
  assert.equal(await page.textContent("#enqueue-title"), "Roll a job out over many hosts");
  assert.equal(await page.isVisible("#e-agent"), false);
  assert.equal(await page.isVisible("#e-dependsOn"), false);
  await page.fill("#e-target", "web-1");
  await page.fill("#p-backupId", "form-1");
  await page.fill("#e-r-name", "verify from the form");
  await page.fill("#e-r-selector", "fleet=ops");
  await page.fill("#e-r-maxInFlight", "1");
  await page.fill("#e-r-phases", "50,40");  // percents must increase and end at 100
  await page.fill("#e-r-maxPerMinute", "0");  // at least 1
  await page.click("#enqueue-submit");
  await page.waitForSelector('#enqueue-form .field.invalid[data-path="policy.phases"]', { timeout: WAIT });
  assert.match(await page.textContent('.field[data-path="policy.phases"] .field-error'), /./);
  assert.match(await page.textContent('.field[data-path="policy.maxPerMinute"] .field-error'), /from 1 to/);
  assert.equal((await api("GET", "/v1/rollouts?limit=100")).rollouts.length, before);
  // Every problem is at its field: the line below the form only says so.
  assert.equal(await page.textContent("#enqueue-error"), "Fix the marked fields.");
  await h.shot(page, "fo-10-rollout-form-invalid");
  // A phase that is not a number is named as such (it used to reach fleet-cmdr as null: "is required").
  await page.fill("#e-r-phases", "50,abc");
  await page.click("#enqueue-submit");
  await waitFor("the phase's own problem", async () =>
    /"abc" is not a whole number/.test(await page.textContent('.field[data-path="policy.phases"] .field-error')));

  await page.fill("#e-r-phases", "50,100");
  await page.fill("#e-r-maxPerMinute", "600");
  const rollout = await submitAndOpen(page, "#enqueue-submit", "rollouts");
  assert.equal(rollout.name, "verify from the form");
  assert.deepEqual(rollout.target, { selector: { labels: { fleet: "ops" } } });
  assert.equal(rollout.job.instanceId, "web-1");
  assert.deepEqual(rollout.job.payload, { backupId: "form-1" });
  assert.deepEqual(rollout.policy.phases.map((p) => p.percent), [50, 100]);
  assert.equal(rollout.policy.maxPerMinute, 600);
  await waitFor("the pace shown", async () => (await page.textContent("#rollout-fields")).includes("600"));
  for (const agent of ["ro-1", "ro-2", "ro-3"]) await page.waitForSelector(tile(agent, "completed"), { timeout: WAIT });
  await page.waitForSelector("#rollout-status.rs-COMPLETED", { timeout: WAIT });
  await h.shot(page, "fo-11-rollout-from-the-form");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a schedule created from the UI, with its problems at their fields; disabled, enabled and deleted from its page", async () => {
  const count = async () => (await api("GET", "/v1/schedules?limit=100")).schedules.length;
  const before = await count();
  const page = await h.signedInPage();
  await page.click('a[data-route="schedules"]');
  await page.click("#sc-new summary");
  await waitFor("the browser's zone offered", async () => (await page.inputValue("#sc-zone")) !== "");
  await page.fill("#sc-name", "ui nightly");
  await page.fill("#sc-cron", "0 25 * * *");  // there is no hour 25
  await page.fill("#sc-zone", "Europe/Berlin");
  await page.fill("#sc-agents", "sched-1");
  await page.fill("#sc-steps", JSON.stringify([{ type: "VERIFY_BACKUP", instanceId: "web-1", payload: { backupId: "u-1" } }]));
  await page.click("#sc-submit");
  await page.waitForSelector('#sc-form .field.invalid[data-path="cron"]', { timeout: WAIT });
  assert.match(await page.textContent('#sc-form .field[data-path="cron"] .field-error'), /./);
  assert.equal(await count(), before);
  await h.shot(page, "fo-12-schedule-form-invalid");

  await page.fill("#sc-cron", "0 4 * * *");
  const schedule = await submitAndOpen(page, "#sc-submit", "schedules");
  assert.equal(schedule.name, "ui nightly");
  assert.equal(schedule.timeZone, "Europe/Berlin");
  assert.deepEqual(schedule.target, { agentIds: ["sched-1"] });
  assert.equal(schedule.steps.length, 1);
  await page.waitForSelector("#schedule-next tr[data-fire]", { timeout: WAIT });
  assert.match(await page.textContent("#schedule-next tr[data-fire] .zone-time"), / 04:00 GMT\+[12]$/);

  await page.click("#schedule-toggle");
  await waitFor("shown disabled", async () => (await page.textContent("#schedule-enabled")) === "disabled");
  assert.equal((await api("GET", "/v1/schedules/" + schedule.id)).enabled, false);
  assert.equal(await page.textContent("#schedule-toggle"), "Enable");
  await page.click("#schedule-toggle");
  await waitFor("shown enabled", async () => (await page.textContent("#schedule-enabled")) === "enabled");
  assert.equal((await api("GET", "/v1/schedules/" + schedule.id)).enabled, true);

  page.once("dialog", (dialog) => dialog.accept());
  await page.click("#schedule-delete");
  await waitFor("shown deleted", async () => (await page.textContent("#schedule-enabled")) === "deleted");
  await assert.rejects(api("GET", "/v1/schedules/" + schedule.id), /404/);
  assert.equal(await page.isEnabled("#schedule-fire"), false);
  // A deleted schedule fires no more: no next fires listed.
  assert.equal(await page.$$eval("#schedule-next > *", (rows) => rows.length), 0);
  assert.match(await page.textContent("#schedule-zone"), /deleted/);
  await h.shot(page, "fo-13-schedule-deleted");
  assert.equal(page.lastError, undefined);
  await page.close();
});
