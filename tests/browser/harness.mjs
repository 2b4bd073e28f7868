// What the browser tests share: a real fleet-cmdr on 127.0.0.1 in a temporary data dir, real
// agents enrolled through the API, Debian's chromium driven by playwright-core, waits on conditions
// with a deadline (never a sleep), and screenshots in ORB_ARTIFACTS_DIR (never the work tree).
//
// Run by ctest (tests/browser/CMakeLists.txt passes the binaries' paths in the environment).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS, freePort, waitFor as waitForWithin } from "./waits.mjs";

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this test through ctest)`);
  return value;
};
export const FLEET_CMDR = env("FLEET_CMDR_BIN");
export const AGENT = env("ORB_AGENT_BIN");
export const TESTBED = env("ORB_AGENT_TESTBED_BIN");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const WAIT = 20_000;  // every wait ends with a clear failure after this

// ARTIFACTS, freePort and waitFor (WAIT unless given) are waits.mjs's, shared with the script
// tests.
export { ARTIFACTS, freePort };
export const waitFor = (what, check, timeout = WAIT) => waitForWithin(what, check, timeout);

// One fleet-cmdr with its agents and a browser: `await h.setUp()` in `before`, `await h.tearDown()`
// in `after`.
export class Harness {
  constructor(cmdrArgs = []) {
    this.adminToken = "browser-test-admin-" + Math.random().toString(36).slice(2) + "0123456789";
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "orb-browser-"));
    this.children = [];
    this.cmdrArgs = cmdrArgs;
    this.base = null;
    this.browser = null;
  }

  start(name, argv, extraEnv = {}) {
    const log = fs.openSync(path.join(this.dir, name + ".log"), "a");
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log], env: { ...process.env, ...extraEnv } });
    child.name = name;
    this.children.push(child);
    return child;
  }

  // fleet-cmdr on its port and data dir (again after a restart: same port, same data).
  startFleetCmdr() {
    return this.start("fleet-cmdr", [FLEET_CMDR, "serve", "--listen", `127.0.0.1:${this.port}`,
      "--data-dir", path.join(this.dir, "data"), ...this.cmdrArgs], { FLEET_CMDR_ADMIN_TOKEN: this.adminToken });
  }

  async setUp() {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.startFleetCmdr();
    await waitFor("fleet-cmdr /healthz", async () => (await fetch(this.base + "/healthz")).ok);
  }

  async launchBrowser() {
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    });
    return this.browser;
  }

  async api(method, route, body, token = this.adminToken) {
    const init = { method, headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(this.base + route, init);
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(data)}`);
    return data;
  }

  // Enrolls `name` and starts `binary` as it (with `extraArgs` after the usual ones); resolves with
  // its root once it is online.
  async startAgent(name, binary, labels = { role: name }, extraArgs = []) {
    const { token } = await this.api("POST", "/v1/agents", { agentId: name, labels });
    const home = path.join(this.dir, name);
    fs.mkdirSync(path.join(home, "root"), { recursive: true });
    fs.writeFileSync(path.join(home, "token"), token, { mode: 0o600 });
    this.start(name, [binary, "--server", this.base, "--agent-id", name, "--token-file", path.join(home, "token"),
      "--root", path.join(home, "root"), "--state-dir", path.join(home, "state"), ...extraArgs]);
    await waitFor(`${name} online`, async () => (await this.api("GET", "/v1/agents/" + name)).online);
    return path.join(home, "root");
  }

  // A signed-in page (the token is kept in localStorage, as a person's browser would keep it).
  // `prepare(page)` runs before the page loads (e.g. page.route to stand in for fleet-cmdr).
  async signedInPage(token = this.adminToken, prepare = undefined) {
    const page = await this.browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => { page.lastError = err; });
    if (prepare) await prepare(page);
    await page.goto(this.base + "/");
    await page.fill("#token", token);
    await page.click("#go");
    await page.waitForSelector("#conn.live", { timeout: WAIT });
    return page;
  }

  shot(page, name) { return page.screenshot({ path: path.join(ARTIFACTS, name + ".png"), fullPage: true }); }

  async tearDown() {
    if (this.browser) await this.browser.close();
    for (const child of this.children.reverse()) {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await waitFor(`${child.name} to exit`, () => child.exitCode !== null || child.signalCode !== null, 15_000)
          .catch(() => child.kill("SIGKILL"));
      }
    }
    // Keep the programs' logs beside the screenshots (prefixed with `logPrefix`), then clean up.
    for (const name of fs.readdirSync(this.dir).filter((f) => f.endsWith(".log"))) {
      fs.copyFileSync(path.join(this.dir, name), path.join(ARTIFACTS, (this.logPrefix || "") + name));
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
