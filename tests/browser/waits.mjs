// What every browser-directory test waits with, and how the README's scripts are run by them
// (run_command.test.mjs, run_cluster.test.mjs). No environment needed, unlike harness.mjs.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Where the tests keep what helps after a failure (screenshots, outputs), never the work tree.
export const ARTIFACTS = process.env.ORB_ARTIFACTS_DIR || path.join(os.tmpdir(), "orb-browser-artifacts");

// A port for a program a test starts, and that program binds it a moment later. Between the two,
// another test running in parallel could be handed the same port if it came from the kernel's
// ephemeral range (every port-0 bind and outgoing connection draws from it), so it is drawn at
// random below that range and checked free.
function ephemeralLow() {
  try { return Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0]) || 32768; }
  catch { return 32768; }
}

function listensOn(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.on("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort() {
  const low = 10000, high = Math.max(low + 1000, ephemeralLow());
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await listensOn(port)) return port;
  }
  throw new Error(`no free port in ${low}..${high - 1} after 200 tries`);
}

// Waits for `check` to return a truthy value (polled with a deadline: a condition, not a sleep).
// An error with `fatal` set ends the wait at once; others are retried until the deadline.
export async function waitFor(what, check, timeout) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch (err) { if (err.fatal) throw err; last = err; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ""));
    await new Promise((r) => setTimeout(r, 50));  // the poll interval of this deadline-bound wait
  }
}

export const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// scripts/<name> started as a person starts it in a terminal, in a process group of its own (so
// that Ctrl-C can be sent to the whole group), its output collected.
export class Script {
  // A README script as its test runs it: this build's programs (ORB_BIN_DIR, set by ctest), a
  // demo dir of its own (`demo`), and a free port for the UI it prints (`base`: that address).
  static async start(name, demoPrefix) {
    const binDir = process.env.ORB_BIN_DIR;
    if (!binDir) throw new Error("ORB_BIN_DIR is not set (run this test through ctest)");
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const demo = fs.mkdtempSync(path.join(os.tmpdir(), demoPrefix));
    const port = await freePort();
    const env = { ...process.env, ORB_LISTEN: `127.0.0.1:${port}`, ORB_DEMO_DIR: demo, ORB_BIN_DIR: binDir };
    delete env.FLEET_CMDR_ADMIN_TOKEN;
    const script = new Script(name, env);
    script.demo = demo;
    script.base = `http://127.0.0.1:${port}`;
    return script;
  }

  constructor(name, env) {
    this.name = name;
    this.output = "";
    this.exited = null;
    this.child = spawn("bash", [path.join(ROOT, "scripts", name)],
      { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.child.stdout.on("data", (d) => { this.output += d; });
    this.child.stderr.on("data", (d) => { this.output += d; });
    this.child.on("exit", (code, signal) => { this.exited = { code, signal }; });
  }
  // Waits until the output holds `text`; fails at once if the script exits before.
  async printed(text, timeout) {
    await waitFor(`${this.name} to print "${text}"`, () => {
      if (this.exited) throw Object.assign(new Error(`${this.name} exited (${this.exited.code}) early:\n${this.output}`), { fatal: true });
      return this.output.includes(text);
    }, timeout);
  }
  // Ctrl-C in a terminal: SIGINT to the whole foreground process group. Resolves to the exit code.
  async interrupt(timeout) {
    process.kill(-this.child.pid, "SIGINT");
    const { code } = await waitFor(`${this.name} to exit after Ctrl-C`, () => this.exited, timeout);
    return code;
  }
  // Whatever is left of it, killed (a test's cleanup).
  kill() {
    if (this.child.exitCode !== null) return;
    try { process.kill(-this.child.pid, "SIGKILL"); } catch { this.child.kill("SIGKILL"); }
  }
  // The cleanup of a test that began with Script.start: its output kept in ARTIFACTS as
  // `outputName`, whatever is left killed, its demo dir removed.
  finish(outputName) {
    fs.writeFileSync(path.join(ARTIFACTS, outputName), this.output);
    this.kill();
    fs.rmSync(this.demo, { recursive: true, force: true });
  }
}
