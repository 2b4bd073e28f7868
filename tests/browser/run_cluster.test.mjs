// The cluster command (scripts/run-cluster.sh), as a person runs it: a throwaway PostgreSQL, three
// fleet-cmdr replicas on its database, nginx in front (the shipped site file) and two agents; the
// demo's instance started on each agent; the UI's address printed. Through nginx the UI and the
// API answer, and every replica is ready. Ctrl-C (SIGINT to the process group) stops the
// instances, the agents, nginx, the replicas and PostgreSQL, whose files are removed.
// ORB_BIN_DIR points the script at this build's binaries, so the test does not build the release
// preset a second time.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Script, alive } from "./waits.mjs";


test("scripts/run-cluster.sh starts three replicas behind nginx with two agents, and Ctrl-C stops all of it", { timeout: 300_000 }, async () => {
  const run = await Script.start("run-cluster.sh", "orb-cluster-");
  const { demo, base } = run;
  try {
    await run.printed("orb-jobs is running as a cluster.", 240_000);
    const output = run.output;
    assert.match(output, new RegExp(`UI: +${base}/ \\(nginx`));
    assert.match(output, /START_INSTANCE demo-1: COMPLETED/);
    assert.match(output, /START_INSTANCE demo-2: COMPLETED/);

    // The UI and the API through nginx; every replica ready on its own.
    const page = await fetch(base + "/");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /orb-jobs/);
    const replicas = output.match(/replicas: +(.*) \(logs/)[1].trim().split(/\s+/);
    assert.equal(replicas.length, 3, output);
    for (const replica of replicas) assert.equal((await fetch(replica + "/readyz")).status, 200, replica);
    const token = fs.readFileSync(path.join(demo, "admin.token"), "utf8").trim();
    const agents = await (await fetch(base + "/v1/agents", { headers: { Authorization: `Bearer ${token}` } })).json();
    assert.deepEqual(agents.agents.map((a) => a.agentId).sort(), ["local-1", "local-2"]);

    // Each agent runs its instance.
    const instances = [1, 2].map((n) => JSON.parse(fs.readFileSync(
      path.join(demo, `agent-${n}/root/instances/demo-${n}/runtime.json`), "utf8")));
    for (const runtime of instances) {
      assert.equal(runtime.state, "running");
      assert.ok(alive(runtime.pid), `instance pid ${runtime.pid} is not alive`);
    }
    const pgData = fs.readFileSync(path.join(demo, "pg/datadir"), "utf8").trim();
    assert.ok(fs.existsSync(pgData), pgData);

    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    assert.equal(await run.interrupt(120_000), 130, run.output);
    for (const runtime of instances) assert.ok(!alive(runtime.pid), `instance ${runtime.pid} still runs after Ctrl-C`);
    await assert.rejects(fetch(base + "/healthz"), "nginx still answers after Ctrl-C");
    for (const replica of replicas) await assert.rejects(fetch(replica + "/healthz"), `${replica} still answers after Ctrl-C`);
    assert.ok(!fs.existsSync(pgData), `PostgreSQL's files are still in ${pgData}`);
  } finally {
    run.finish("run-cluster-output.txt");
  }
});
