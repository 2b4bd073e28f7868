// A host with something on it, for the host page's test and the screenshots script: the real
// orb-jobs-agent (instances run as its own processes) gets a server installed from an uploaded
// tar.gz, two builds of it, an instance of the fake game server started and backed up, all through
// fleet-cmdr's API as an operator would. The game server is the one of the C++ instance tests
// (tests/integration/agent/fake_game_server.hpp): it says it is ready, and saves and exits on
// "stop".
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AGENT, waitFor } from "./harness.mjs";

const GAME_SERVER = `#!/bin/sh
echo "Done (0.1s)! For help, type help"
while read -r line; do
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
done
exit 4
`;
export const START_CONFIG = { config: { serverId: "s1", command: ["bin/start.sh"], stopCommand: "stop",
  readyPattern: "Done \\(", readyTimeoutSeconds: 10, stopTimeoutSeconds: 5 } };

// A tar.gz of bin/start.sh (and a version file, so two builds differ), uploaded to fleet-cmdr's
// artifact store: the INSTALL_SERVER payload's artifact.
async function uploadBuild(h, version) {
  const tree = path.join(h.dir, "tree-" + version);
  fs.mkdirSync(path.join(tree, "bin"), { recursive: true });
  fs.writeFileSync(path.join(tree, "bin", "start.sh"), GAME_SERVER, { mode: 0o755 });
  fs.writeFileSync(path.join(tree, "version.txt"), version + "\n");
  const archive = path.join(h.dir, "build-" + version + ".tar.gz");
  const tar = spawnSync("tar", ["-C", tree, "-czf", archive, "."]);
  if (tar.status !== 0) throw new Error("tar: " + tar.stderr);
  const bytes = fs.readFileSync(archive);
  const response = await fetch(h.base + "/v1/artifacts", { method: "PUT", body: bytes,
    headers: { Authorization: "Bearer " + h.adminToken, "Content-Type": "application/octet-stream" } });
  if (response.status !== 200 && response.status !== 201) throw new Error("upload: " + response.status + " " + await response.text());
  const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
  return { url: "/v1/artifacts/" + sha256, sha256, size: bytes.length };
}

// Enqueues a job on `agentId` and waits for it to complete (a failure throws with its error).
export async function runJob(h, agentId, type, target, payload) {
  const body = { agentId, type, payload, maxAttempts: 1, timeoutSeconds: 60 };
  body[type === "INSTALL_SERVER" || type === "ACTIVATE_BUILD" ? "serverId" : "instanceId"] = target;
  const job = await h.api("POST", "/v1/jobs", body);
  const done = await waitFor(`${type} ${target} to end`, async () => {
    const j = await h.api("GET", "/v1/jobs/" + job.id);
    return ["COMPLETED", "FAILED", "CANCELLED"].includes(j.status) && j;
  }, 60_000);
  if (done.status !== "COMPLETED") throw new Error(`${type} ${target}: ${done.status} ${JSON.stringify(done.lastError || done.runs)}`);
  return done;
}

// Starts the real agent `agentId` (labels `labels`) and gives it server s1 with builds b1 and b2
// (b2 current), instance i1 running b2, and its backup `first`. Resolves with the instance's pid,
// as the inventory reports it once it runs.
export async function setUpHost(h, agentId, labels) {
  await h.startAgent(agentId, AGENT, labels, ["--instance-supervisor", "process"]);
  await runJob(h, agentId, "INSTALL_SERVER", "s1", { buildId: "b1", artifact: await uploadBuild(h, "b1") });
  await runJob(h, agentId, "INSTALL_SERVER", "s1", { buildId: "b2", activate: true, artifact: await uploadBuild(h, "b2") });
  await runJob(h, agentId, "START_INSTANCE", "i1", START_CONFIG);
  await runJob(h, agentId, "BACKUP_INSTANCE", "i1", { backupId: "first" });
  const inventory = await waitFor("i1 running with a backup in the inventory", async () => {
    const inv = await h.api("GET", `/v1/agents/${agentId}/inventory`);
    const i1 = inv.instances.find((i) => i.instanceId === "i1");
    return i1 && i1.state === "running" && i1.pid && inv.backups.length === 1 && inv;
  });
  return inventory.instances.find((i) => i.instanceId === "i1").pid;
}

// Kills the instance's process group behind the agent's back (as a crash would), and ignores one
// that is already gone.
export function killInstance(pid) {
  try { process.kill(-pid, "SIGKILL"); } catch (err) { if (err.code !== "ESRCH") throw err; }
}
