// Browser tests of the host page (web/host.js, docs/decisions/0024) and of the enqueue form's
// host ids: a real fleet-cmdr whose agents check their instances every second
// (--heartbeat-seconds 1), and the real orb-jobs-agent `game-1` holding server s1 (builds b1, b2),
// a running instance i1 of the fake game server and its backup `first` (host_setup.mjs). Killing
// i1's process behind the agent's back turns it `crashed` on the open page, without a reload.
//
// Screenshots of every test are kept in ORB_ARTIFACTS_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Harness, WAIT } from "./harness.mjs";
import { killInstance, setUpHost } from "./host_setup.mjs";

const h = new Harness(["--heartbeat-seconds", "1", "--long-poll-seconds", "1"]);
h.logPrefix = "host-";
const api = (...args) => h.api(...args);
const instanceRow = (id, state) => `#host-instances tr[data-instance="${id}"]` + (state ? `[data-state="${state}"]` : "");
let pid = 0;

before(async () => {
  await h.setUp();
  pid = await setUpHost(h, "game-1", { rack: "a", game: "valheim" });
  await h.launchBrowser();
});

after(async () => {
  if (pid) killInstance(pid);
  await h.tearDown();
});

test("the host page shows servers, builds, the running instance, backups, disk and jobs; a killed instance turns crashed live", async () => {
  const page = await h.signedInPage();
  await page.click('a[data-route="fleet"]');
  await page.click('#fleet-grid [data-agent="game-1"]');
  await page.waitForSelector(instanceRow("i1", "running"), { timeout: WAIT });
  assert.equal(new URL(page.url()).hash, "#/hosts/game-1");

  // Its instance: state, build, pid; the uptime ticks (a wait on the clock's next second).
  const cells = await page.$$eval(instanceRow("i1") + " td", (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells.slice(0, 5), ["i1", "s1", "b2", "running", String(pid)]);
  const uptime = await page.textContent(instanceRow("i1") + " .uptime");
  assert.match(uptime, /^\d+s$|^\d+m \d\ds$/);
  await page.waitForFunction((before) => document.querySelector('#host-instances tr[data-instance="i1"] .uptime').textContent !== before,
    uptime, { timeout: WAIT });
  // Its builds, b2 the current one; its backup; the disk bar; its state and labels.
  assert.equal(await page.getAttribute('#host-builds tr[data-build="b2"]', "data-current"), "true");
  assert.equal(await page.getAttribute('#host-builds tr[data-build="b1"]', "data-current"), "false");
  assert.equal(await page.locator('#host-builds tr[data-build="b1"] button[data-enqueue="ACTIVATE_BUILD"]').count(), 1);
  assert.equal(await page.locator('#host-builds tr[data-build="b2"] button').count(), 0, "the current build has nothing to activate");
  assert.equal(await page.locator('#host-backups tr[data-backup="first"][data-instance="i1"]').count(), 1);
  const used = Number(await page.getAttribute("#host-disk", "data-used-percent"));
  assert.ok(used > 0 && used <= 100, `disk used ${used}%`);
  assert.match(await page.textContent("#host-disk-text"), /used of .* free/);
  assert.equal(await page.getAttribute("#host-state", "data-state"), "online");
  assert.equal(await page.textContent('#host-fields [data-field="labels"]'), "game=valheim rack=a");
  // Its recent jobs: the four of the set-up, newest first.
  await page.waitForFunction(() => document.querySelectorAll("#host-jobs tr[data-job]").length === 4, null, { timeout: WAIT });
  assert.deepEqual(await page.$$eval("#host-jobs tr[data-job] td:nth-child(2)", (tds) => tds.map((td) => td.textContent)),
    ["BACKUP_INSTANCE", "START_INSTANCE", "INSTALL_SERVER", "INSTALL_SERVER"]);
  await h.shot(page, "host-01-running");

  // Killed behind the agent's back, between jobs: only the agent's heartbeat check (1 s) can see
  // it; the page follows agent.inventory on the stream.
  await page.evaluate(() => { window.notReloaded = true; });
  const killedAt = Date.now();
  killInstance(pid);
  await page.waitForSelector(instanceRow("i1", "crashed"), { timeout: WAIT });
  console.log(`the page showed crashed ${Date.now() - killedAt} ms after the kill`);
  assert.equal(await page.evaluate(() => window.notReloaded), true, "the page was reloaded, not updated");
  assert.equal(await page.textContent(instanceRow("i1") + " .uptime"), "");
  assert.equal(await page.locator(instanceRow("i1") + ' button[data-enqueue="START_INSTANCE"]').count(), 1);
  await h.shot(page, "host-02-crashed");

  // A job enqueued elsewhere shows up in its jobs live.
  const verify = await api("POST", "/v1/jobs", { agentId: "game-1", type: "VERIFY_BACKUP", instanceId: "i1",
    payload: { backupId: "first" }, maxAttempts: 1 });
  await page.waitForSelector(`#host-jobs tr[data-job="${verify.id}"][data-status="COMPLETED"]`, { timeout: WAIT });
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a host page button opens the enqueue form filled in and submits nothing; the form offers the host's ids", async () => {
  const before = (await api("GET", "/v1/jobs?agentId=game-1&limit=100")).jobs.length;
  const page = await h.signedInPage();
  await page.goto(h.base + "/#/hosts/game-1");
  await page.click('#host-backups tr[data-backup="first"] button[data-enqueue="RESTORE_BACKUP"]');
  await page.waitForSelector("#view-enqueue:not([hidden])", { timeout: WAIT });
  assert.equal(await page.inputValue("#e-type"), "RESTORE_BACKUP");
  assert.equal(await page.inputValue("#e-agent"), "game-1");
  assert.equal(await page.inputValue("#e-target"), "i1");
  assert.equal(await page.inputValue('#payload-fields [data-name="backupId"]'), "first");

  // The target (an instance) and backupId fields offer the host's ids, and still take free text.
  const offered = (list) => page.$$eval(`#${list} option`, (options) => options.map((o) => o.value));
  await page.waitForFunction(() => [...document.querySelectorAll("#ids-instanceId option")].some((o) => o.value === "i1"), null, { timeout: WAIT });
  assert.equal(await page.getAttribute("#e-target", "list"), "ids-instanceId");
  assert.equal(await page.getAttribute('#payload-fields [data-name="backupId"]', "list"), "ids-backupId");
  assert.deepEqual(await offered("ids-backupId"), ["first"]);
  assert.deepEqual((await offered("ids-buildId")).sort(), ["b1", "b2"]);
  assert.deepEqual(await offered("ids-serverId"), ["s1"]);
  await h.shot(page, "host-03-enqueue-filled");

  // Another type whose target is a server: the target offers the server ids, buildId its builds.
  await page.goBack();
  await page.waitForSelector("#view-host:not([hidden])", { timeout: WAIT });
  await page.click('#host-builds tr[data-build="b1"] button[data-enqueue="ACTIVATE_BUILD"]');
  await page.waitForSelector("#view-enqueue:not([hidden])", { timeout: WAIT });
  assert.equal(await page.inputValue("#e-type"), "ACTIVATE_BUILD");
  assert.equal(await page.inputValue("#e-target"), "s1");
  assert.equal(await page.inputValue('#payload-fields [data-name="buildId"]'), "b1");
  await page.waitForFunction(() => document.querySelector("#e-target").getAttribute("list") === "ids-serverId", null, { timeout: WAIT });
  // Nothing was enqueued by opening the form (two openings, no submit).
  assert.equal((await api("GET", "/v1/jobs?agentId=game-1&limit=100")).jobs.length, before);
  assert.equal(page.lastError, undefined);
  await page.close();
});

test("a viewer sees the host page without the job buttons", async () => {
  const { token } = await api("POST", "/v1/tokens", { role: "viewer", name: "host-eyes" });
  const page = await h.signedInPage(token);
  // The UI learns the role at sign-in (GET /v1/whoami).
  await page.waitForFunction(() => S.viewer === true, null, { timeout: WAIT });
  await page.evaluate(() => { location.hash = "#/hosts/game-1"; });
  await page.waitForSelector(instanceRow("i1"), { timeout: WAIT });
  assert.equal(await page.locator("#view-host button").count(), 0);
  await h.shot(page, "host-04-viewer");
  assert.equal(page.lastError, undefined);
  await page.close();
});
