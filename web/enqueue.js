// The enqueue page: a form for every job type, generated from GET /v1/job-types, that shows
// fleet-cmdr's validation errors next to the field. The same job goes to one agent
// (POST /v1/jobs) or, as a rollout's template, to every host with some labels under a policy
// (POST /v1/rollouts; its page follows). Loaded after app.js.
"use strict";
// ---- enqueue: the form is generated from GET /v1/job-types --------------------------------------
function openEnqueue() {
  const select = $("e-type");
  if (!select.options.length) for (const t of S.types) select.appendChild(el("option", { value: t.name, text: t.name }));
  const want = S.route.query.get("type");
  if (want && S.typeByName.has(want)) select.value = want;
  if (S.route.query.get("agentId")) $("e-agent").value = S.route.query.get("agentId");
  if (S.route.query.get("target")) $("e-target").value = S.route.query.get("target");
  if (S.route.query.get("mode") === "rollout") $("e-mode").value = "rollout";
  setMode();
  buildPayloadFields();
  // "payload.<field>=value" in the query (the host page's buttons) fills that payload field.
  for (const [k, v] of S.route.query) {
    if (!k.startsWith("payload.")) continue;
    const input = document.querySelector('#payload-fields [data-name="' + CSS.escape(k.slice(8)) + '"]');
    if (input) input.value = v;
  }
  offerHostIds();
}
// The chosen host's server, build, instance and backup ids (its inventory, host.js
// loadInventory) offered by every field of that name: the target and the payload's fields, at any
// depth (config.serverId). A datalist: any other text may still be typed. Builds are narrowed to
// the target server's and backups to the target instance's when the target is one of the host's.
const HOST_ID_FIELDS = ["serverId", "buildId", "instanceId", "backupId"];
async function offerHostIds() {
  const agentId = $("e-agent").value.trim();
  for (const input of [$("e-target"), ...document.querySelectorAll("#payload-fields input[data-name]")]) {
    const leaf = input === $("e-target") ? $("e-target-field").dataset.path : input.dataset.name.slice(input.dataset.name.lastIndexOf(".") + 1);
    if (HOST_ID_FIELDS.includes(leaf)) input.setAttribute("list", "ids-" + leaf); else input.removeAttribute("list");
  }
  let inv = null;
  if (agentId && S.agents.has(agentId)) { try { inv = await loadInventory(agentId); } catch { inv = null; } }
  if ($("e-agent").value.trim() !== agentId) return;  // another host was chosen meanwhile
  const target = $("e-target").value.trim();
  const servers = (inv && inv.servers) || [], instances = (inv && inv.instances) || [], backups = (inv && inv.backups) || [];
  const targetServer = servers.find((x) => x.serverId === target);
  const targetInstance = instances.find((x) => x.instanceId === target);
  const options = {
    serverId: servers.map((x) => [x.serverId, x.currentBuild ? "current build " + x.currentBuild : "no current build"]),
    buildId: (targetServer ? [targetServer] : servers).flatMap((x) => (x.builds || []).map((b) =>
      [b.buildId, x.serverId + (b.buildId === x.currentBuild ? ", current" : "")])),
    instanceId: instances.map((x) => [x.instanceId, x.state + (x.serverId ? ", " + x.serverId : "")]),
    backupId: backups.filter((b) => !targetInstance || b.instanceId === targetInstance.instanceId)
      .map((b) => [b.backupId, b.instanceId + (b.verifiedAt ? ", verified" : "")]),
  };
  for (const leaf of HOST_ID_FIELDS) {
    $("ids-" + leaf).replaceChildren(...options[leaf].map(([value, label]) => el("option", { value, label })));
  }
}
function fillAgentList() {
  const list = $("agent-ids"); list.replaceChildren();
  for (const id of [...S.agents.keys()].sort()) list.appendChild(el("option", { value: id }));
  if (!$("e-agent").value && S.agents.size === 1) $("e-agent").value = [...S.agents.keys()][0];
}
// One agent, or a rollout: the rollout's fields instead of the agent's, and no notBefore or
// dependsOn (a rollout's jobs start when its policy says).
function setMode() {
  const rollout = $("e-mode").value === "rollout";
  $("e-rollout").hidden = !rollout;
  $("e-agent-field").hidden = rollout;
  document.querySelectorAll('#enqueue-form [data-only="job"]').forEach((f) => { f.hidden = rollout; });
  $("enqueue-submit").textContent = rollout ? "Start the rollout" : "Enqueue";
  $("enqueue-title").textContent = rollout ? "Roll a job out over many hosts" : "Enqueue a job";
}
// POST /v1/rollouts from the form: the job as its template; problems found here go to `local`.
function rolloutBody(job, local) {
  const labels = labelsOf("e-r-selector", "target", local);
  const policy = {};
  const max = $("e-r-maxInFlight").value.trim();
  if (max) policy.maxInFlight = /^\d+$/.test(max) ? Number(max) : max;  // "25%": fleet-cmdr checks
  const perMinute = $("e-r-maxPerMinute").value.trim();
  if (perMinute) policy.maxPerMinute = Number(perMinute);
  const phases = commaList("e-r-phases");
  if (phases.length) {
    policy.phases = phases.map((phase, i) => {
      const at = phase.indexOf("@");
      const given = (at < 0 ? phase : phase.slice(0, at)).trim();
      // Number("abc") is NaN, which JSON sends as null: "is required" would name the wrong fault.
      if (!/^\d+$/.test(given)) local.push({ field: "policy.phases[" + i + "].percent", problem: JSON.stringify(given) + " is not a whole number" });
      const percent = Number(given);
      return at < 0 ? { percent } : { percent, startAt: phase.slice(at + 1).trim() };
    });
  }
  const percent = $("e-r-abortPercent").value.trim(), min = $("e-r-abortMin").value.trim();
  if (percent) policy.abort = Object.assign({ failedPercent: Number(percent) }, min ? { minFinished: Number(min) } : {});
  else if (min) local.push({ field: "policy.abort", problem: "give the percent too" });
  const timeout = $("e-r-hostTimeout").value.trim();
  if (timeout) policy.hostTimeoutSeconds = Number(timeout);
  const template = Object.assign({}, job);
  for (const k of ["agentId", "notBefore", "dependsOn", "idempotencyKey"]) delete template[k];
  const body = { name: $("e-r-name").value.trim(), target: { selector: { labels } }, job: template, policy };
  if (job.idempotencyKey) body.idempotencyKey = job.idempotencyKey;
  return body;
}
// A field is a form control unless it lives inside an array or map, which get one JSON textarea.
function isInsideCompound(name, info) {
  return info.fields.some((f) => (f.kind === "array" || f.kind === "stringMap") && name !== f.name &&
    (name.startsWith(f.name + "[]") || name.startsWith(f.name + ".")));
}
function buildPayloadFields() {
  const info = S.typeByName.get($("e-type").value); if (!info) return;
  $("e-type-hint").textContent = info.description + (info.cancellable ? "" : " Not cancellable once running: " + info.notCancellableReason);
  const tf = $("e-target-field"); tf.dataset.path = info.target === "server" ? "serverId" : "instanceId";
  tf.querySelector("label").textContent = tf.dataset.path + " *";
  const box = $("payload-fields"); box.replaceChildren();
  const containers = new Map([["", box]]);
  for (const f of info.fields) {
    if (isInsideCompound(f.name, info)) continue;
    const parent = f.name.includes(".") ? f.name.slice(0, f.name.lastIndexOf(".")) : "";
    const into = containers.get(parent) || box;
    const leaf = f.name.slice(f.name.lastIndexOf(".") + 1);
    const label = leaf + (f.required ? " *" : "");
    const hint = el("div", { class: "hint", text: text(f.description) + (f.default !== null && f.default !== undefined ? " (default " + JSON.stringify(f.default) + ")" : "") });
    if (f.kind === "object") {
      const fs = el("fieldset", { class: "field", "data-path": f.name }, el("legend", { text: label }), hint, el("div", { class: "field-error" }));
      containers.set(f.name, fs); into.appendChild(fs); continue;
    }
    const id = "p-" + f.name.replace(/[^A-Za-z0-9]/g, "_");
    let input;
    if (f.kind === "enum") {
      input = el("select", { id }, el("option", { value: "", text: "(default)" }), ...f.enum.map((v) => el("option", { value: v, text: v })));
    } else if (f.kind === "boolean") {
      input = el("select", { id }, el("option", { value: "", text: "(default)" }), el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" }));
    } else if (f.kind === "array" || f.kind === "stringMap") {
      const example = exampleAt(info.examplePayload, f.name);
      input = el("textarea", { id, rows: 4, placeholder: example === undefined ? "JSON" : JSON.stringify(example, null, 1) });
    } else {
      input = el("input", { id, type: f.kind === "integer" ? "number" : "text" });
      const example = exampleAt(info.examplePayload, f.name);
      if (example !== undefined && typeof example !== "object") input.placeholder = String(example);
    }
    input.dataset.kind = f.kind; input.dataset.name = f.name;
    into.appendChild(el("div", { class: "field", "data-path": f.name }, el("label", { htmlFor: id, text: label }), input, hint, el("div", { class: "field-error" })));
  }
  clearErrors();
}
function exampleAt(obj, path) {
  let cur = obj;
  for (const part of path.split(".")) { if (cur === null || typeof cur !== "object") return undefined; cur = cur[part]; }
  return cur;
}
function setAt(obj, path, value) {
  const parts = path.split("."); let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur[p] || (cur[p] = {});
  cur[parts[parts.length - 1]] = value;
}
function clearErrors() { clearFormErrors($("enqueue-form"), $("enqueue-error")); }
// "job.payload.mods[2].path": the payload's fields are named without "job." and "payload.".
function showProblems(err) {
  showFormProblems($("enqueue-form"), $("enqueue-error"), err, (path) => path.replace(/^job\./, "").replace(/^payload\./, ""));
}
async function submitEnqueue(ev) {
  ev.preventDefault(); clearErrors();
  const info = S.typeByName.get($("e-type").value);
  const body = { type: info.name, agentId: $("e-agent").value.trim(), payload: {} };
  const target = $("e-target").value.trim();
  if (target) body[info.target === "server" ? "serverId" : "instanceId"] = target;
  const local = [];
  for (const input of document.querySelectorAll("#payload-fields [data-name]")) {
    const raw = input.value.trim(); if (raw === "") continue;
    let value = raw;
    if (input.dataset.kind === "integer") value = Number(raw);
    else if (input.dataset.kind === "boolean") value = raw === "true";
    else if (input.dataset.kind === "array" || input.dataset.kind === "stringMap") {
      try { value = JSON.parse(raw); } catch { local.push({ field: "payload." + input.dataset.name, problem: "is not valid JSON" }); continue; }
    }
    setAt(body.payload, input.dataset.name, value);
  }
  for (const k of ["priority", "maxAttempts", "timeoutSeconds"]) { const v = $("e-" + k).value.trim(); if (v !== "") body[k] = Number(v); }
  for (const k of ["notBefore", "idempotencyKey"]) { const v = $("e-" + k).value.trim(); if (v) body[k] = v; }
  const deps = commaList("e-dependsOn");
  if (deps.length) body.dependsOn = deps;
  if ($("e-exclusive").checked) body.exclusive = true;
  const rollout = $("e-mode").value === "rollout" ? rolloutBody(body, local) : null;
  if (!rollout && !body.agentId) local.push({ field: "agentId", problem: "is required" });
  if (local.length) return showProblems({ code: "invalid_payload", message: "fix the marked fields", details: local });
  $("enqueue-submit").disabled = true;
  try {
    if (rollout) {
      const created = await api("POST", "/v1/rollouts", rollout);
      location.hash = "#/rollouts/" + created.id;
    } else {
      const created = await api("POST", "/v1/jobs", body);
      putJob(created);
      location.hash = "#/jobs/" + created.id;
    }
  } catch (err) {
    // A job for an agent that is not enrolled is a 404 (protocol.md §5): the agent's field says so.
    if (!rollout && err.code === "not_found" && !(err.details || []).length) {
      err = Object.assign({}, err, { details: [{ field: "agentId", problem: err.message }] });
    }
    showProblems(err);
  } finally { $("enqueue-submit").disabled = false; }
}

$("e-type").onchange = () => { buildPayloadFields(); offerHostIds(); };
$("e-mode").onchange = () => { setMode(); clearErrors(); };
$("e-agent").oninput = () => offerHostIds();
$("e-target").oninput = () => offerHostIds();
$("enqueue-form").onsubmit = submitEnqueue;

addView("enqueue", { nav: "enqueue", open: () => openEnqueue() });
