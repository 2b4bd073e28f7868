// The README's run command (scripts/run.sh), as a person runs it: it starts fleet-cmdr and a local
// agent, installs and starts the sample game server, and prints the UI's address; the UI answers
// and shows the demo's jobs; Ctrl-C (SIGINT) stops the instance, the agent and fleet-cmdr cleanly.
// ORB_BIN_DIR points run.sh at the binaries this build made, so the test does not build the
// release preset a second time.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS, Script, alive } from "./waits.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

test("scripts/run.sh starts a working system with a running instance, and Ctrl-C stops all of it", { timeout: 240_000 }, async () => {
  const run = await Script.start("run.sh", "orb-run-");
  const { demo, base } = run;
  try {
    await run.printed("orb-jobs is running.", 180_000);
    const output = run.output;
    assert.match(output, new RegExp(`UI: +${base}/`));
    assert.match(output, /admin token: .*admin\.token/);
    assert.match(output, /fleetctl: .*fleetctl --server/);
    assert.match(output, /START_INSTANCE demo-1: COMPLETED/);
    const page = await fetch(base + "/");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /orb-jobs/);

    // The instance runs: its process is alive and the UI shows the demo's jobs.
    const runtime = JSON.parse(fs.readFileSync(path.join(demo, "agent/root/instances/demo-1/runtime.json"), "utf8"));
    assert.equal(runtime.state, "running");
    assert.ok(alive(runtime.pid), `instance pid ${runtime.pid} is not alive`);
    const token = fs.readFileSync(path.join(demo, "cmdr/admin.token"), "utf8").trim();
    const browser = await chromium.launch({ executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
    try {
      const ui = await browser.newPage();
      await ui.goto(base + "/");
      await ui.fill("#token", token);
      await ui.click("#go");
      await ui.waitForSelector("#conn.live", { timeout: 20_000 });
      await ui.waitForSelector('tr[data-job] td.st-COMPLETED', { timeout: 20_000 });
      const rows = await ui.textContent("#jobs");
      assert.match(rows, /INSTALL_SERVER/);
      assert.match(rows, /START_INSTANCE/);
      await ui.screenshot({ path: path.join(ARTIFACTS, "run-command-jobs.png"), fullPage: true });
    } finally { await browser.close(); }

    // Ctrl-C in a terminal: SIGINT to the whole foreground process group, not just run.sh.
    assert.equal(await run.interrupt(90_000), 130, run.output);
    assert.ok(!alive(runtime.pid), "the instance still runs after Ctrl-C");
    await assert.rejects(fetch(base + "/healthz"), "fleet-cmdr still answers after Ctrl-C");
  } finally {
    run.finish("run-command-output.txt");
  }
});
