// Browser tests of the web UI: Debian's chromium driven by playwright-core, against a
// real fleet-cmdr on 127.0.0.1 and two real agents: `host-1` is the shipped orb-jobs-agent with its
// real handlers (BACKUP_INSTANCE of a real data tree), `gate-1` is orb-jobs-agent-testbed, whose
// VERIFY_BACKUP handler reports 50 % and then waits at a safe point until `<root>/release` exists:
// a job that is slow for exactly as long as the test wants.
//
// Run by ctest (tests/browser/CMakeLists.txt passes the binaries' paths in the environment).
// Screenshots of every test are kept in ORB_ARTIFACTS_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AGENT, Harness, TESTBED, WAIT, waitFor } from "./harness.mjs";

// A run log cap far above what the real agents' jobs here log, and small enough to pass.
const h = new Harness(["--run-log-max-lines", "500"]);
const ADMIN_TOKEN = h.adminToken;
const api = (...args) => h.api(...args);
const signedInPage = () => h.signedInPage();
const shot = (page, name) => h.shot(page, name);
const jobIdOf = (page) => new URL(page.url()).hash.replace("#/jobs/", "");
let base, browser, gateRoot;

before(async () => {
  await h.setUp();
  base = h.base;
  const hostRoot = await h.startAgent("host-1", AGENT);
  // A real data tree of a few MB for BACKUP_INSTANCE (instances/<id>/data, job-types.md §1).
  const data = path.join(hostRoot, "instances", "web-1", "data");
  fs.mkdirSync(path.join(data, "world", "region"), { recursive: true });
  for (let i = 0; i < 40; i++) {
    fs.writeFileSync(path.join(data, "world", "region", `r.${i}.mca`), Buffer.alloc(100_000 + i * 1000, i));
  }
  fs.writeFileSync(path.join(data, "server.properties"), "motd=browser test\n");
  gateRoot = await h.startAgent("gate-1", TESTBED);
  browser = await h.launchBrowser();
});

after(() => h.tearDown());

test("a wrong token is refused; the right one signs in and shows the fleet live", async () => {
  const page = await browser.newPage();
  await page.goto(base + "/");
  await page.fill("#token", "not-a-token-of-this-fleet");
  await page.click("#go");
  await page.waitForFunction(() => document.getElementById("signin-error").textContent.length > 0, null, { timeout: WAIT });
  assert.match(await page.textContent("#signin-error"), /token/i);
  await page.fill("#token", ADMIN_TOKEN);
  await page.click("#go");
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  await page.click('a[data-route="fleet"]');
  for (const agent of ["host-1", "gate-1"]) {
    await page.waitForSelector(`.host-tile[data-agent="${agent}"][data-state="online"]`, { timeout: WAIT });
  }
  await shot(page, "01-fleet");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("an agent's health report shows on the fleet page, live", async () => {
  const { token } = await api("POST", "/v1/agents", { agentId: "sick-1" });
  const status = async (body) => {
    const response = await fetch(base + "/v1/agents/sick-1/status", { method: "POST", body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" } });
    assert.equal(response.status, 204);
  };
  const page = await signedInPage();
  await page.click('a[data-route="fleet"]');
  await page.waitForSelector('.host-tile[data-agent="sick-1"]', { timeout: WAIT });
  await status({ healthy: false, problems: [{ code: "journal_unwritable", message: "the journal cannot be written: disk full" }], reportedAt: new Date().toISOString() });
  await page.waitForSelector('.host-tile[data-agent="sick-1"][data-health="unhealthy"]', { timeout: WAIT });
  assert.match(await page.getAttribute('.host-tile[data-agent="sick-1"][data-health="unhealthy"]', "title"), /journal_unwritable: the journal cannot be written/);
  await shot(page, "01b-unhealthy-agent");
  await status({ healthy: true, problems: [], reportedAt: new Date().toISOString() });
  await page.waitForSelector('.host-tile[data-agent="sick-1"][data-health="healthy"]', { timeout: WAIT });
  assert.equal(page.lastError, undefined);
  await page.close();
  // A fresh page reads it over REST.
  await status({ healthy: false, problems: [{ code: "journal_unwritable", message: "again" }], reportedAt: new Date().toISOString() });
  const again = await signedInPage();
  await again.click('a[data-route="fleet"]');
  await again.waitForSelector('.host-tile[data-agent="sick-1"][data-health="unhealthy"][data-problems="journal_unwritable: again"]', { timeout: WAIT });
  await again.close();
});

test("a BACKUP_INSTANCE enqueued from the form reaches 100 % live", async () => {
  const page = await signedInPage();
  await page.click('a[data-route="enqueue"]');
  await page.selectOption("#e-type", "BACKUP_INSTANCE");
  await page.fill("#e-agent", "host-1");
  await page.fill("#e-target", "web-1");
  await page.click("#enqueue-submit");
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/, { timeout: WAIT });
  await page.waitForSelector("#job-status.st-COMPLETED", { timeout: WAIT });
  await page.waitForSelector('#job-bar[data-percent="100"]', { timeout: WAIT });
  // The page was never reloaded: what it shows came over the stream.
  const events = await page.textContent("#events");
  assert.match(events, /job\.running/);
  assert.match(events, /job\.completed/);
  await shot(page, "02-backup-completed");
  const job = await api("GET", "/v1/jobs/" + jobIdOf(page));
  assert.equal(job.status, "COMPLETED");
  assert.ok(job.result && job.result.archiveSha256, JSON.stringify(job.result));
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a slow job is cancelled from its page and shows CANCELLED", async () => {
  const page = await signedInPage();
  await page.goto(base + "/#/enqueue?type=VERIFY_BACKUP&agentId=gate-1");
  await page.fill("#e-target", "web-1");
  await page.fill("#p-backupId", "slow-1");
  await page.click("#enqueue-submit");
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/, { timeout: WAIT });
  await page.waitForSelector("#job-status.st-RUNNING", { timeout: WAIT });
  await page.waitForSelector('#job-bar[data-percent="50"]', { timeout: WAIT });
  assert.equal(await page.isEnabled("#cancel"), true);
  await page.click("#cancel");
  await page.waitForSelector("#job-status.st-CANCELLED", { timeout: WAIT });
  assert.equal(await page.isEnabled("#cancel"), false);
  assert.equal(await page.isEnabled("#retry"), true);
  await shot(page, "03-cancelled");
  assert.equal((await api("GET", "/v1/jobs/" + jobIdOf(page))).status, "CANCELLED");
  await page.close();
});

test("a running STOP_INSTANCE cannot be cancelled: the button is disabled with the type's reason", async () => {
  // A test-side agent speaking protocol.md §4 takes the job, so it is RUNNING for as long as we like.
  const { token } = await api("POST", "/v1/agents", { agentId: "manual-1" });
  const agentCall = async (route, body) => {
    const response = await fetch(base + "/v1/agents/manual-1" + route, { method: "POST", body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" } });
    assert.ok(response.ok, `${route}: ${response.status}`);
    return response.status === 204 ? null : response.json();
  };
  await agentCall("/hello", { agentVersion: "manual", jobTypes: ["STOP_INSTANCE"], maxParallel: 1, labels: {}, interruptedRuns: [] });
  const job = await api("POST", "/v1/jobs", { agentId: "manual-1", type: "STOP_INSTANCE", instanceId: "web-9", payload: {} });
  const run = await agentCall("/jobs/next", { running: [] });
  assert.equal(run.jobId, job.id);
  const page = await signedInPage();
  await page.goto(base + "/#/jobs/" + job.id);
  await page.waitForSelector("#job-status.st-RUNNING", { timeout: WAIT });
  assert.equal(await page.isEnabled("#cancel"), false);
  assert.match(await page.textContent("#action-reason"), /STOP_INSTANCE cannot be cancelled once running: .+/);
  await shot(page, "04-not-cancellable");
  await agentCall(`/runs/${run.runId}/updates`, { updates: [], logs: [], final: { seq: 1, timestamp: new Date().toISOString(), status: "COMPLETED", result: { instanceId: "web-9", alreadyStopped: true } } });
  await page.waitForSelector("#job-status.st-COMPLETED", { timeout: WAIT });
  await page.close();
});

test("the log view says how many lines the run log cap dropped", async () => {
  const { token } = await api("POST", "/v1/agents", { agentId: "manual-4" });
  const agentCall = async (route, body) => {
    const response = await fetch(base + "/v1/agents/manual-4" + route, { method: "POST", body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" } });
    assert.ok(response.ok, `${route}: ${response.status}`);
    return response.status === 204 ? null : response.json();
  };
  await agentCall("/hello", { agentVersion: "manual", jobTypes: ["STOP_INSTANCE"], maxParallel: 1, labels: {}, interruptedRuns: [] });
  const job = await api("POST", "/v1/jobs", { agentId: "manual-4", type: "STOP_INSTANCE", instanceId: "web-11", payload: {} });
  const run = await agentCall("/jobs/next", { running: [] });
  const timestamp = new Date().toISOString();
  const logs = Array.from({ length: 1234 + 500 }, (_, i) => ({ seq: i + 1, timestamp, level: "info", message: "line " + (i + 1) }));
  const acked = await agentCall(`/runs/${run.runId}/updates`, { updates: [], logs });
  assert.equal(acked.ackedLogSeq, 1734);
  await agentCall(`/runs/${run.runId}/updates`, { updates: [], logs: [], final: { seq: 1, timestamp, status: "COMPLETED", result: { instanceId: "web-11", alreadyStopped: true } } });
  const page = await signedInPage();
  await page.goto(base + "/#/jobs/" + job.id);
  await page.waitForSelector("#log-dropped:not([hidden])", { timeout: WAIT });
  assert.equal(await page.textContent("#log-dropped"), "1,234 log lines dropped: the run reached fleet-cmdr's cap of 500 lines / 8 MiB");
  assert.match(await page.textContent("#log"), /line 500/);
  assert.doesNotMatch(await page.textContent("#log"), /line 501/);
  await shot(page, "04c-log-cap");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("progress that arrives while the job page loads is not undone by the older snapshot", async () => {
  // The snapshot (GET /v1/jobs/{id}) is fetched before the agent reports 50 % and answered only
  // after the page has the progress event from the stream: the page keeps the event's 50 %.
  const { token } = await api("POST", "/v1/agents", { agentId: "manual-2" });
  const agentCall = async (route, body) => {
    const response = await fetch(base + "/v1/agents/manual-2" + route, { method: "POST", body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" } });
    assert.ok(response.ok, `${route}: ${response.status}`);
    return response.status === 204 ? null : response.json();
  };
  await agentCall("/hello", { agentVersion: "manual", jobTypes: ["VERIFY_BACKUP"], maxParallel: 1, labels: {}, interruptedRuns: [] });
  const job = await api("POST", "/v1/jobs", { agentId: "manual-2", type: "VERIFY_BACKUP", instanceId: "web-5", payload: { backupId: "b-5" } });
  const run = await agentCall("/jobs/next", { running: [] });
  assert.equal(run.jobId, job.id);
  const page = await signedInPage();
  let held = false;
  await page.route(`**/v1/jobs/${job.id}`, async (route) => {
    const snapshot = await route.fetch();  // RUNNING, no progress yet
    held = true;
    await agentCall(`/runs/${run.runId}/updates`, { updates: [{ seq: 1, status: "RUNNING", percent: 50, message: "half way", timestamp: new Date().toISOString() }], logs: [] });
    await page.waitForFunction((id) => S.jobs.get(id) && S.jobs.get(id).percent === 50, job.id, { timeout: WAIT });
    await route.fulfill({ response: snapshot });
  });
  await page.goto(base + "/#/jobs/" + job.id);
  await page.waitForSelector("#job-status.st-RUNNING", { timeout: WAIT });
  assert.equal(held, true);
  await page.waitForSelector('#job-bar[data-percent="50"]', { timeout: WAIT });
  await page.unroute(`**/v1/jobs/${job.id}`);
  await agentCall(`/runs/${run.runId}/updates`, { updates: [], logs: [], final: { seq: 2, timestamp: new Date().toISOString(), status: "COMPLETED", result: { backupId: "b-5", ok: true } } });
  await page.waitForSelector('#job-bar[data-percent="100"]', { timeout: WAIT });
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a bad payload shows the server's error next to its field and creates nothing", async () => {
  const page = await signedInPage();
  const before = (await api("GET", "/v1/jobs?limit=500")).jobs.length;
  await page.click('a[data-route="enqueue"]');
  await page.selectOption("#e-type", "PRUNE_BACKUPS");
  await page.fill("#e-agent", "host-1");
  await page.fill("#e-target", "web-1");
  await page.fill("#p-keepLast", "-3");
  await page.click("#enqueue-submit");
  const fieldError = '.field[data-path="keepLast"] .field-error';
  await page.waitForFunction((sel) => document.querySelector(sel).textContent.length > 0, fieldError, { timeout: WAIT });
  assert.match(await page.textContent(fieldError), /integer/);
  assert.equal(await page.getAttribute('.field[data-path="keepLast"]', "class"), "field invalid");
  await shot(page, "05-field-error");
  assert.match(page.url(), /#\/enqueue/);
  // No agent, then one that is not enrolled: the agent's field says each.
  const agentError = '.field[data-path="agentId"] .field-error';
  await page.fill("#p-keepLast", "3");
  await page.fill("#e-agent", "");
  await page.click("#enqueue-submit");
  await waitFor("the agent's 'is required'", async () => /is required/.test(await page.textContent(agentError)));
  await page.fill("#e-agent", "no-such-host");
  await page.click("#enqueue-submit");
  await waitFor("the agent's 'not enrolled'", async () => /no-such-host/.test(await page.textContent(agentError)));
  assert.equal((await api("GET", "/v1/jobs?limit=500")).jobs.length, before);
  await page.close();
});

test("a job that depends on another shows what it waits for, and why it was cancelled", async () => {
  // The dependency waits for a notBefore far ahead, so its dependent waits as long as the test wants.
  const dependency = await api("POST", "/v1/jobs", { agentId: "gate-1", type: "VERIFY_BACKUP", instanceId: "web-3",
    payload: { backupId: "dep-1" }, notBefore: "2099-01-01T00:00:00.000Z" });
  const dependent = await api("POST", "/v1/jobs", { agentId: "host-1", type: "BACKUP_INSTANCE", instanceId: "web-1",
    payload: {}, dependsOn: [dependency.id] });
  assert.deepEqual(dependent.waitingFor, [dependency.id]);
  const page = await signedInPage();
  await page.goto(base + "/#/jobs/" + dependent.id);
  await page.waitForSelector("#job-status.st-CREATED", { timeout: WAIT });
  await page.waitForSelector(`#job-waiting a[href="#/jobs/${dependency.id}"]`, { timeout: WAIT });
  assert.match(await page.textContent("#job-fields"), /depends on/);
  await shot(page, "06a-waiting-for-a-dependency");
  // Cancelling the dependency cancels the dependent: live, with the reason, and no retry.
  await api("POST", "/v1/jobs/" + dependency.id + "/cancel");
  await page.waitForSelector("#job-status.st-CANCELLED", { timeout: WAIT });
  await waitFor("the dependency_failed error", async () => /dependency_failed: /.test(await page.textContent("#job-fields")));
  // The error as code and message, not its JSON (stack, retryable).
  assert.doesNotMatch(await page.textContent("#job-fields"), /"stack"|"retryable"/);
  assert.equal(await page.isEnabled("#retry"), false);
  assert.match(await page.getAttribute("#retry", "title"), /dependency/);
  assert.equal(await page.$("#job-waiting"), null);
  await shot(page, "06b-cancelled-by-its-dependency");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a reload in the middle of a job restores its state, then it goes on live", async () => {
  const job = await api("POST", "/v1/jobs", { agentId: "gate-1", type: "VERIFY_BACKUP", instanceId: "web-2", payload: { backupId: "slow-2" } });
  const page = await signedInPage();
  await page.goto(base + "/#/jobs/" + job.id);
  await page.waitForSelector('#job-bar[data-percent="50"]', { timeout: WAIT });
  await page.reload();
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  await page.waitForSelector("#job-status.st-RUNNING", { timeout: WAIT });
  await page.waitForSelector('#job-bar[data-percent="50"]', { timeout: WAIT });
  assert.match(await page.textContent("#events"), /job\.running/);
  assert.match(await page.textContent("#log"), /line 2/);
  await shot(page, "06-after-reload");
  fs.writeFileSync(path.join(gateRoot, "release"), "");
  await page.waitForSelector("#job-status.st-COMPLETED", { timeout: WAIT });
  await page.waitForSelector('#job-bar[data-percent="100"]', { timeout: WAIT });
  await shot(page, "07-completed-after-reload");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("after fleet-cmdr restarts, the UI reconnects and replays what it missed, without a reload", async () => {
  // An agent that never says hello: its jobs stay QUEUED, nothing but this test changes them.
  await api("POST", "/v1/agents", { agentId: "idle-1" });
  const first = await api("POST", "/v1/jobs", { agentId: "idle-1", type: "VERIFY_BACKUP", instanceId: "web-3", payload: { backupId: "b-1" } });
  const page = await signedInPage();
  await page.click('a[data-route="jobs"]');
  await page.waitForSelector(`tr[data-job="${first.id}"] td.st-QUEUED`, { timeout: WAIT });
  await page.evaluate(() => { window.notReloaded = true; });

  // fleet-cmdr goes away; the UI notices.
  const cmdr = h.children.find((c) => c.name === "fleet-cmdr" && c.exitCode === null && c.signalCode === null);
  cmdr.kill("SIGTERM");
  await waitFor("fleet-cmdr to exit", () => cmdr.exitCode !== null || cmdr.signalCode !== null);
  await page.waitForSelector("#conn.reconnecting", { timeout: WAIT });
  // Keep the browser from reconnecting while things change, so they can only arrive by replay.
  await page.context().setOffline(true);
  h.startFleetCmdr();
  await waitFor("fleet-cmdr /healthz after the restart", async () => (await fetch(base + "/healthz")).ok);
  const second = await api("POST", "/v1/jobs", { agentId: "idle-1", type: "VERIFY_BACKUP", instanceId: "web-4", payload: { backupId: "b-2" } });
  await api("POST", `/v1/jobs/${first.id}/cancel`);
  assert.equal(await page.getAttribute("#conn", "class"), "reconnecting");  // still away: no live event seen

  await page.context().setOffline(false);
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  await page.waitForSelector(`tr[data-job="${first.id}"] td.st-CANCELLED`, { timeout: WAIT });
  await page.waitForSelector(`tr[data-job="${second.id}"] td.st-QUEUED`, { timeout: WAIT });
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await shot(page, "08-after-reconnect");
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a page that cannot load shows nothing of the last one, and loads once fleet-cmdr is back", async () => {
  await api("POST", "/v1/agents", { agentId: "idle-2" });
  const job = await api("POST", "/v1/jobs", { agentId: "idle-2", type: "VERIFY_BACKUP", instanceId: "web-5", payload: { backupId: "b-5" } });
  const page = await signedInPage();
  await page.goto(`${base}/#/jobs/${job.id}`);
  await page.waitForSelector("#job-status.st-QUEUED", { timeout: WAIT });
  // A job that does not exist: its page is empty but for the error, not the last job's.
  await page.goto(`${base}/#/jobs/no-such-job`);
  await waitFor("the not-found error", async () => /not found|no such/i.test(await page.textContent("#action-error")));
  assert.equal(await page.textContent("#job-status"), "");
  assert.equal(await page.$$eval("#job-fields > *", (nodes) => nodes.length), 0);
  assert.equal(await page.$$eval("#runs > *", (nodes) => nodes.length), 0);
  assert.equal(await page.isDisabled("#cancel"), true);
  await shot(page, "09-job-not-found");

  // fleet-cmdr goes away and the job's page is opened meanwhile: it cannot load...
  const cmdr = h.children.find((c) => c.name === "fleet-cmdr" && c.exitCode === null && c.signalCode === null);
  cmdr.kill("SIGTERM");
  await waitFor("fleet-cmdr to exit", () => cmdr.exitCode !== null || cmdr.signalCode !== null);
  await page.waitForSelector("#conn.reconnecting", { timeout: WAIT });
  await page.evaluate((id) => { location.hash = "#/jobs/" + id; }, job.id);
  await waitFor("the load error", async () => (await page.textContent("#action-error")) !== "");
  assert.equal(await page.textContent("#job-status"), "");
  // ... and loads, without a reload or a click, once the stream is back.
  await page.evaluate(() => { window.notReloaded = true; });
  h.startFleetCmdr();
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  await page.waitForSelector("#job-status.st-QUEUED", { timeout: WAIT });
  assert.equal(await page.textContent("#action-error"), "");
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await page.close();
});

test("a jobs list filtered by status takes in a job that reaches the status later, live", async () => {
  await api("POST", "/v1/agents", { agentId: "idle-3" });
  const page = await signedInPage();
  await page.goto(`${base}/#/jobs?status=CANCELLED`);
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  const job = await api("POST", "/v1/jobs", { agentId: "idle-3", type: "VERIFY_BACKUP", instanceId: "web-6", payload: { backupId: "b-6" } });
  await api("POST", `/v1/jobs/${job.id}/cancel`);
  await page.waitForSelector(`tr[data-job="${job.id}"] td.st-CANCELLED`, { timeout: WAIT });
  // And one that leaves the status filtered on leaves the list (the agent never asks for jobs:
  // QUEUED until cancelled).
  const queued = await api("POST", "/v1/jobs", { agentId: "idle-3", type: "VERIFY_BACKUP", instanceId: "web-7", payload: { backupId: "b-7" } });
  await page.goto(`${base}/#/jobs?status=QUEUED`);
  await page.waitForSelector(`tr[data-job="${queued.id}"]`, { timeout: WAIT });
  await api("POST", `/v1/jobs/${queued.id}/cancel`);
  await waitFor("the cancelled job to leave the QUEUED list", async () => (await page.$(`tr[data-job="${queued.id}"]`)) === null);
  await page.close();
});
