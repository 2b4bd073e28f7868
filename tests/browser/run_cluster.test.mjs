// The cluster command (scripts/run-cluster.sh), as a person runs it: a throwaway PostgreSQL, three
// fleet-cmdr replicas on its database, nginx in front (the shipped site file) and two agents; the
// demo's instance started on each agent; the UI's address printed. Through nginx the UI and the
// API answer, and every replica is ready. Ctrl-C (SIGINT to the process group) stops the
// instances, the agents, nginx, the replicas and PostgreSQL, whose files are removed.
// ORB_BIN_DIR points the script at this build's binaries, so the test does not build the release
// preset a second time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN_DIR = process.env.ORB_BIN_DIR;
const ARTIFACTS = process.env.ORB_ARTIFACTS_DIR || path.join(os.tmpdir(), "orb-browser-artifacts");

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
}
async function waitFor(what, check, timeout) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch (err) { if (err.fatal) throw err; last = err; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ""));
    await new Promise((r) => setTimeout(r, 100));
  }
}
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test("scripts/run-cluster.sh starts three replicas behind nginx with two agents, and Ctrl-C stops all of it", { timeout: 300_000 }, async () => {
  assert.ok(BIN_DIR, "ORB_BIN_DIR is not set (run this test through ctest)");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const demo = fs.mkdtempSync(path.join(os.tmpdir(), "orb-cluster-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, ORB_LISTEN: `127.0.0.1:${port}`, ORB_DEMO_DIR: demo, ORB_BIN_DIR: BIN_DIR };
  delete env.FLEET_CMDR_ADMIN_TOKEN;
  const run = spawn("bash", [path.join(ROOT, "scripts/run-cluster.sh")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  run.stdout.on("data", (d) => { output += d; });
  run.stderr.on("data", (d) => { output += d; });
  let exited = null;
  run.on("exit", (code, signal) => { exited = { code, signal }; });
  try {
    await waitFor("run-cluster.sh to print the UI's address", () => {
      if (exited) throw Object.assign(new Error(`run-cluster.sh exited (${exited.code}) early:\n${output}`), { fatal: true });
      return output.includes("orb-jobs is running as a cluster.");
    }, 240_000);
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
    process.kill(-run.pid, "SIGINT");
    const { code } = await waitFor("run-cluster.sh to exit after Ctrl-C", () => exited, 120_000);
    assert.equal(code, 130, output);
    for (const runtime of instances) assert.ok(!alive(runtime.pid), `instance ${runtime.pid} still runs after Ctrl-C`);
    await assert.rejects(fetch(base + "/healthz"), "nginx still answers after Ctrl-C");
    for (const replica of replicas) await assert.rejects(fetch(replica + "/healthz"), `${replica} still answers after Ctrl-C`);
    assert.ok(!fs.existsSync(pgData), `PostgreSQL's files are still in ${pgData}`);
  } finally {
    fs.writeFileSync(path.join(ARTIFACTS, "run-cluster-output.txt"), output);
    if (run.exitCode === null) { try { process.kill(-run.pid, "SIGKILL"); } catch { run.kill("SIGKILL"); } }
    fs.rmSync(demo, { recursive: true, force: true });
  }
});
