// The README's screenshots (scripts/screenshots.sh runs this): the set-up of the browser tests (a
// real fleet-cmdr, the real agent `game-1` with a game server installed, started and backed up as
// in host.test.mjs, testbed agents that run a rollout) and three pages at a fixed 1280x800
// viewport: the fleet overview with its chart, game-1's host page, the rollout's page. Written to
// the folder given as the first argument; the tests never write there.
import fs from "node:fs";
import path from "node:path";
import { AGENT, Harness, TESTBED, waitFor } from "./harness.mjs";
import { killInstance, runJob, setUpHost } from "./host_setup.mjs";

const out = process.argv[2];
if (!out) throw new Error("usage: node screenshots.mjs OUTPUT_DIR");
fs.mkdirSync(out, { recursive: true });
const h = new Harness(["--heartbeat-seconds", "1", "--long-poll-seconds", "1"]);
h.logPrefix = "screenshots-";
const VIEWPORT = { width: 1280, height: 800 };

async function shoot(page, name) {
  const file = path.join(out, name + ".png");
  await page.screenshot({ path: file });  // the viewport only: the same size every time
  console.log(`${file}: ${fs.statSync(file).size} bytes`);
}

let pid = 0;
try {
  await h.setUp();
  pid = await setUpHost(h, "game-1", { game: "valheim", rack: "a" });
  await h.startAgent("game-2", AGENT, { game: "valheim", rack: "b" });
  // A failed last job (a backup game-2 does not have), for the fleet's "last job failed" colour.
  await runJob(h, "game-2", "VERIFY_BACKUP", "i9", { backupId: "missing" }).catch(() => {});
  const roots = {};
  for (const name of ["web-1", "web-2", "web-3", "web-4", "web-5"]) roots[name] = await h.startAgent(name, TESTBED, { fleet: "web", rack: "c" });
  await h.api("POST", "/v1/agents", { agentId: "spare-1", labels: { rack: "d" } });  // enrolled, never started: offline
  // Jobs that finished, for the chart: the testbed's VERIFY_BACKUP completes once `release` exists.
  for (const name of ["web-4", "web-5"]) fs.writeFileSync(path.join(roots[name], "release"), "");
  for (let i = 0; i < 6; i++) await runJob(h, i % 2 ? "web-4" : "web-5", "VERIFY_BACKUP", "site", { backupId: "b-" + i });
  // A rollout over web-1..3 in two phases: phase 1 (web-1, web-2) completes, phase 2 (web-3) runs.
  const rollout = await h.api("POST", "/v1/rollouts", { name: "verify the web fleet", target: { selector: { labels: { fleet: "web" } } },
    job: { type: "VERIFY_BACKUP", instanceId: "site", payload: { backupId: "nightly" } },
    policy: { maxInFlight: "100%", phases: [{ percent: 34 }, { percent: 100 }] } });
  await waitFor("phase 1 running", async () => (await h.api("GET", `/v1/rollouts/${rollout.id}/hosts`)).hosts
    .filter((x) => x.jobId).length >= 2);
  for (const name of ["web-1", "web-2", "web-3"]) {
    if (name !== "web-3") fs.writeFileSync(path.join(roots[name], "release"), "");
  }
  await waitFor("phase 2 running", async () => {
    const hosts = (await h.api("GET", `/v1/rollouts/${rollout.id}/hosts`)).hosts;
    const web3 = hosts.find((x) => x.agentId === "web-3");
    return web3 && web3.jobId && (await h.api("GET", "/v1/jobs/" + web3.jobId)).status === "RUNNING";
  });

  await h.launchBrowser();
  const page = await h.browser.newPage({ viewport: VIEWPORT });
  await page.addInitScript((token) => localStorage.setItem("orbToken", token), h.adminToken);
  await page.goto(h.base + "/#/fleet");
  await page.waitForSelector('#history-svg .chart-total[data-status="COMPLETED"]', { timeout: 20_000 });
  await page.waitForSelector('#fleet-grid [data-agent="web-3"][data-state="busy"]', { timeout: 20_000 });
  await shoot(page, "fleet");
  await page.click('#fleet-grid [data-agent="game-1"]');
  await page.waitForSelector('#host-instances tr[data-instance="i1"][data-state="running"]', { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelectorAll("#host-jobs tr[data-job]").length >= 4, null, { timeout: 20_000 });
  await shoot(page, "host");
  await page.goto(h.base + "/#/rollouts/" + rollout.id);
  await page.waitForSelector('#rollout-hosts [data-agent="web-3"][data-status="running"]', { timeout: 20_000 });
  await shoot(page, "rollout");
} finally {
  if (pid) killInstance(pid);
  await h.tearDown();
}
