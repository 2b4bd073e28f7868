#!/usr/bin/env python3
"""docs/openapi.yaml against the real fleet-cmdr.

1. The routes: orb-print-routes prints the route table of a real FleetCmdr (FleetCmdr::Routes(),
   the table the server routes by); every (method, path) in it must be an operation of the spec
   with the same role (x-orb-role), and every operation of the spec a route. An empty or short
   table fails, so the comparison cannot pass by having nothing to compare.
2. The bodies: the fleet-cmdr binary is started on 127.0.0.1 with a temporary data dir; a
   scripted session (tokens, enrolment, jobs, the agent calls, cancel, retry, artifacts, errors)
   calls every REST route, and every answer must have a status the spec lists for that operation,
   with a body that validates against its schema. Each call also checks the status the session
   expects, so a wrong answer cannot hide behind a valid schema.
3. The stream: a WebSocket subscribe with `since: 0` must answer `ready`, then replay every event
   up to ready's seq, each a valid StreamMessage; a wrong token must be closed with 1008.

Usage: openapi_test.py --cmdr BIN --print-routes BIN --spec docs/openapi.yaml
Needs python3-jsonschema and python3-yaml (scripts/install-deps.sh).
"""

import argparse
import base64
import hashlib
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import jsonschema
    import yaml
except ImportError as error:  # pragma: no cover
    sys.exit(f"openapi_test: {error}; run scripts/install-deps.sh (python3-jsonschema, python3-yaml)")

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ADMIN_TOKEN = "openapi-test-admin-token-0123456789abcdef"
MIN_ROUTES = 20  # fleet-cmdr serves more; fewer means the listing is broken


class Failure(Exception):
    pass


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    if not str(spec.get("openapi", "")).startswith("3.1"):
        raise Failure(f"{path}: openapi must be 3.1.x, is {spec.get('openapi')!r}")
    return spec


def check_routes(spec, print_routes):
    out = subprocess.run([print_routes], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise Failure(f"{print_routes} failed ({out.returncode}): {out.stderr.strip()}")
    routes = {}
    for line in out.stdout.splitlines():
        if not line.startswith("ROUTE\t"):
            continue
        _, method, pattern, role, body = line.split("\t")
        routes[(method.lower(), pattern)] = (role, body)
    if len(routes) < MIN_ROUTES or ("post", "/v1/jobs") not in routes:
        raise Failure(f"the route table has {len(routes)} routes (output: {out.stdout[:500]!r}): "
                      "cannot compare against that")
    problems = []
    documented = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                documented[(method, path)] = item[method]
    for (method, pattern), (role, body) in sorted(routes.items()):
        operation = documented.get((method, pattern))
        if operation is None:
            problems.append(f"{method.upper()} {pattern} is served but missing from openapi.yaml")
            continue
        if operation.get("x-orb-role") != role:
            problems.append(f"{method.upper()} {pattern}: x-orb-role is "
                            f"{operation.get('x-orb-role')!r}, the route's role is {role!r}")
        if (body == "websocket") != bool(operation.get("x-orb-websocket")):
            problems.append(f"{method.upper()} {pattern}: x-orb-websocket must be "
                            f"{body == 'websocket'}")
    for (method, path) in sorted(documented):
        if (method, path) not in routes:
            problems.append(f"{method.upper()} {path} is in openapi.yaml but fleet-cmdr has no such route")
    if problems:
        raise Failure("openapi.yaml and the route table differ:\n  " + "\n  ".join(problems))
    print(f"routes: {len(routes)} in the table, all in openapi.yaml with their roles")
    return routes


class Validator:
    """Validates bodies against schemas of the spec, $refs resolved in the spec itself."""

    def __init__(self, spec):
        self.spec = spec
        self.components = spec.get("components", {})
        self.seen = set()  # (method, pattern, status) validated at least once
        jsonschema.Draft202012Validator.check_schema(
            {"$defs": self.components.get("schemas", {})})

    def validate(self, schema, instance, what):
        wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "allOf": [schema], "components": self.components}
        validator = jsonschema.Draft202012Validator(wrapped)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{what}: the body does not match openapi.yaml:"]
            for e in errors[:10]:
                if e.context:  # oneOf/anyOf: the closest alternative says what is wrong
                    e = jsonschema.exceptions.best_match(e.context)
                where = "/".join(str(p) for p in e.absolute_path) or "(root)"
                lines.append(f"  at {where}: {e.message[:300]}")
            lines.append(f"  body: {json.dumps(instance)[:1500]}")
            raise Failure("\n".join(lines))


class Session:
    def __init__(self, base, spec, routes, validator):
        self.base = base
        self.spec = spec
        self.routes = routes
        self.v = validator
        self.called = set()  # (method, pattern) exercised
        self.viewer_token = None

    def has_operation(self, method, path):
        try:
            self.operation(method, path)
            return True
        except Failure:
            return False

    def operation(self, method, path):
        """The spec's (pattern, operation) for a concrete path, by the route table's own rule."""
        segments = [s for s in path.split("?")[0].split("/") if s]
        best = None
        for pattern, item in self.spec["paths"].items():
            pieces = [s for s in pattern.split("/") if s]
            if len(pieces) != len(segments):
                continue
            if all(p.startswith("{") or p == s for p, s in zip(pieces, segments)):
                literal_mask = [not p.startswith("{") for p in pieces]
                if best is None or literal_mask > best[0]:
                    best = (literal_mask, pattern, item)
        if best is None:
            raise Failure(f"{method} {path}: no path of openapi.yaml matches")
        pattern, item = best[1], best[2]
        if method.lower() not in item:
            raise Failure(f"{method} {pattern}: no such operation in openapi.yaml")
        return pattern, item[method.lower()]

    def call(self, method, path, token=None, body=None, expect=200, raw=None,
             content_type="application/json", headers=None, code=None):
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = content_type
        elif raw is not None:
            data = raw
            all_headers["Content-Type"] = content_type
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, payload, reply_headers = error.code, error.read(), error.headers
        what = f"{method} {path} -> {status}"
        if status != expect:
            raise Failure(f"{what}: expected {expect}; body {payload[:500]!r}")
        if status == 405:
            # A method the path has no operation for: the documented error body, and Allow.
            if "Allow" not in reply_headers:
                raise Failure(f"{what}: a 405 without an Allow header")
        if status in (404, 405) and not self.has_operation(method, path):
            document = json.loads(payload)
            self.v.validate({"$ref": "#/components/schemas/Error"}, document, what)
            return document
        pattern, operation = self.operation(method, path)
        self.called.add((method.lower(), pattern))
        responses = operation.get("responses", {})
        response_spec = responses.get(str(status))
        if response_spec is None:
            raise Failure(f"{what}: status {status} is not documented for {method} {pattern} "
                          f"(documented: {sorted(responses)})")
        if "$ref" in response_spec:
            name = response_spec["$ref"].rsplit("/", 1)[-1]
            response_spec = self.spec["components"]["responses"][name]
        content = response_spec.get("content")
        if not content:
            if payload:
                raise Failure(f"{what}: openapi.yaml documents no body, got {payload[:200]!r}")
            return None
        mime = (reply_headers.get("Content-Type") or "").split(";")[0].strip()
        if mime not in content:
            raise Failure(f"{what}: Content-Type {mime!r} is not documented ({sorted(content)})")
        if mime != "application/json":
            return payload
        try:
            document = json.loads(payload)
        except ValueError as error:
            raise Failure(f"{what}: not JSON ({error}): {payload[:200]!r}")
        self.v.validate(content[mime]["schema"], document, what)
        self.v.seen.add((method.lower(), pattern, status))
        if code is not None and document["error"]["code"] != code:
            raise Failure(f"{what}: error code {document['error']['code']!r}, expected {code!r}")
        return document


class WebSocket:
    """The least of RFC 6455 a test needs: the upgrade, masked text frames out, frames in."""

    def __init__(self, port, path="/v1/stream", timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise Failure(f"GET {path}: the connection closed during the upgrade: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure(f"GET {path}: no WebSocket upgrade: {head.decode(errors='replace')}")

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        if len(data) < 126:
            header = bytes([0x81, 0x80 | len(data)])
        else:
            header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(data))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise Failure("the WebSocket closed in the middle of a frame")
            out += chunk
        return out

    def receive(self):
        """(opcode, payload) of the next frame (the server never fragments its messages)."""
        first, second = self._exact(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._exact(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._exact(8))[0]
        return first & 0x0F, self._exact(size)

    def close(self):
        self.sock.close()


def check_stream(port, spec, validator, token):
    """Subscribes from the start: ready, then every event up to ready's seq, each a StreamMessage."""
    schema = {"$ref": "#/components/schemas/StreamMessage"}
    ws = WebSocket(port)
    try:
        ws.send_text(json.dumps({"type": "subscribe", "token": token, "since": 0,
                                 "filter": {"agentId": None, "jobId": None}}))
        opcode, payload = ws.receive()
        ready = json.loads(payload)
        validator.validate(schema, ready, "stream: the first message")
        if ready["type"] != "ready" or ready["seq"] < 1:
            raise Failure(f"stream: the first message is {ready}, not ready with a seq")
        seen_types = set()
        last = 0
        while last < ready["seq"]:
            opcode, payload = ws.receive()
            if opcode != 1:
                raise Failure(f"stream: frame opcode {opcode} before the replay ended: {payload!r}")
            message = json.loads(payload)
            validator.validate(schema, message, f"stream: message after seq {last}")
            if message["type"] != "event" or message["event"]["seq"] <= last:
                raise Failure(f"stream: expected the next event after seq {last}, got {message}")
            last = message["event"]["seq"]
            seen_types.add(message["event"]["type"])
    finally:
        ws.close()
    expected = {"job.created", "job.queued", "job.running", "job.progress", "job.cancel_requested",
                "job.completed", "job.failed", "job.cancelled", "job.retried", "agent.online",
                "agent.enrolled"}
    if not expected <= seen_types:
        raise Failure(f"stream: the replay lacks the event types {sorted(expected - seen_types)}")
    # A subscribe with a token that is not a viewer's is closed with 1008.
    ws = WebSocket(port)
    try:
        ws.send_text(json.dumps({"type": "subscribe", "token": "not-a-token"}))
        opcode, payload = ws.receive()
        if opcode != 8 or struct.unpack("!H", payload[:2])[0] != 1008:
            raise Failure(f"stream: a wrong token got opcode {opcode} {payload!r}, not close 1008")
    finally:
        ws.close()
    print(f"stream: {last} events replayed and validated, a wrong token closed with 1008")


def free_port():
    # Drawn below the kernel's ephemeral range, which every port-0 bind of a test running in
    # parallel draws from, and checked free (tests/support/free_port.hpp does the same).
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        high = max(int(f.read().split()[0]), 11000)
    for _ in range(200):
        port = random.randrange(10000, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise Failure("no free port below the ephemeral range after 200 tries")


def wait_healthy(base, process, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failure(f"fleet-cmdr exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)  # polling a condition with a deadline, not waiting for a guess
    raise Failure(f"fleet-cmdr was not healthy within {timeout} s")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def run_session(s):
    admin = ADMIN_TOKEN
    s.call("GET", "/healthz")
    s.call("GET", "/readyz")
    s.call("GET", "/", expect=200)
    s.call("GET", "/index.html", expect=200)
    s.call("GET", "/ui/app.js", expect=200)
    s.call("GET", "/ui/style.css", expect=200)
    s.call("GET", "/ui/no-such-file.js", expect=404)

    # Tokens and roles.
    operator = s.call("POST", "/v1/tokens", admin, {"role": "operator", "name": "ops"}, expect=201)
    viewer = s.call("POST", "/v1/tokens", admin, {"role": "viewer", "name": "eyes"}, expect=201)
    spare = s.call("POST", "/v1/tokens", admin, {"role": "viewer", "name": "spare"}, expect=201)
    s.call("POST", "/v1/tokens", admin, {"role": "agent", "name": "x"}, expect=400)
    s.call("DELETE", f"/v1/tokens/{spare['id']}", admin, expect=204)
    s.call("DELETE", f"/v1/tokens/{spare['id']}", admin, expect=204)  # revoking again: no change
    s.call("DELETE", "/v1/tokens/no-such-token", admin, expect=404)
    op, view = operator["token"], viewer["token"]
    s.viewer_token = view
    s.call("GET", "/metrics", view)
    s.call("GET", "/metrics", expect=401)

    # Agents.
    agent = s.call("POST", "/v1/agents", admin, {"agentId": "a1", "labels": {"region": "eu"}},
                   expect=201)
    other = s.call("POST", "/v1/agents", admin, {"agentId": "a2", "labels": {"region": "eu"}},
                   expect=201)
    # Labels a selector could not name are refused, each at its place, and nothing is enrolled.
    bad = s.call("POST", "/v1/agents", admin, {"agentId": "a9", "labels": {"k/x": "v\u0000", "a b": "c"}},
                 expect=400, code="invalid_request")
    if sorted(d["field"] for d in bad["error"]["details"]) != ["labels.a b", "labels.k/x"]:
        raise Failure(f"bad labels: details {bad['error']['details']!r}")
    s.call("GET", "/v1/agents/a9", admin, expect=404)
    s.call("POST", "/v1/agents", admin, {"agentId": "a1"}, expect=409, code="already_exists")
    s.call("POST", "/v1/agents", op, {"agentId": "a3"}, expect=403)
    s.call("POST", "/v1/agents", admin, {"agentId": "../x"}, expect=400)
    a1, a2 = agent["token"], other["token"]
    types = s.call("GET", "/v1/job-types", view)
    assert s.call("GET", "/v1/whoami", view)["role"] == "viewer"
    assert s.call("GET", "/v1/whoami", op)["role"] == "operator"
    s.call("GET", "/v1/whoami", a1, expect=403)
    names = [t["name"] for t in types["jobTypes"]]
    example = {t["name"]: t["examplePayload"] for t in types["jobTypes"]}
    hello = {"agentVersion": "openapi-test", "jobTypes": names, "maxParallel": 4,
             "labels": {"region": "eu"}, "interruptedRuns": []}
    s.call("POST", "/v1/agents/a1/hello", a1, hello)
    s.call("POST", "/v1/agents/a2/hello", a2, dict(hello, maxParallel=1))
    s.call("POST", "/v1/agents/a2/hello", a1, hello, expect=403)
    s.call("POST", "/v1/agents/a1/hello", a1, dict(hello, labels={"tier": "a\tb"}), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/agents/a1/hello", a1, {"agentVersion": 1}, expect=400)
    s.call("POST", "/v1/agents/a1/hello", a1, raw=b"x", content_type="text/plain", expect=415,
           code="unsupported_media_type")
    s.call("GET", "/v1/agents", view)  # a1 has no health report yet: null
    report = {"healthy": False, "reportedAt": "2026-12-06T05:00:00Z",
              "problems": [{"code": "journal_unwritable", "message": "disk full"}]}
    s.call("POST", "/v1/agents/a1/status", a1, report, expect=204)
    s.call("POST", "/v1/agents/a1/status", a2, report, expect=403)
    s.call("POST", "/v1/agents/a1/status", a1, {"healthy": "no"}, expect=400)
    s.call("POST", "/v1/agents/a1/status", a1, raw=b"x", content_type="text/plain", expect=415,
           code="unsupported_media_type")
    # Host inventory: 404 before the first report, then the latest; the list summarizes it.
    s.call("GET", "/v1/agents/a1/inventory", view, expect=404)
    inventory = {"servers": [{"serverId": "paper", "currentBuild": "b1",
                              "builds": [{"buildId": "b1", "installedAt": now(),
                                          "sizeBytes": 1024}]}],
                 "instances": [{"instanceId": "mc-1", "serverId": "paper", "buildId": "b1",
                                "state": "crashed", "pid": 4242, "startedAt": now(),
                                "supervisor": "process"}],
                 "backups": [{"instanceId": "mc-1", "backupId": "bk-1", "createdAt": now(),
                              "sizeBytes": 77, "verifiedAt": None}],
                 "disk": {"rootFreeBytes": 10, "rootTotalBytes": 20}, "reportedAt": now()}
    s.call("POST", "/v1/agents/a1/inventory", a1, inventory, expect=204)
    s.call("POST", "/v1/agents/a1/inventory", a2, inventory, expect=403)
    s.call("POST", "/v1/agents/a1/inventory", a1, dict(inventory, color=1), expect=400)
    s.call("POST", "/v1/agents/a1/inventory", a1, raw=b"x", content_type="text/plain",
           expect=415, code="unsupported_media_type")
    s.call("GET", "/v1/agents/a1/inventory", view)
    s.call("GET", "/v1/agents", view)
    s.call("GET", "/v1/agents/a1", view)
    s.call("GET", "/v1/agents/nobody", view, expect=404)

    # Artifacts.
    data = b"openapi test artifact\n" * 100
    sha = hashlib.sha256(data).hexdigest()
    stored = s.call("PUT", "/v1/artifacts", op, raw=data, content_type="application/octet-stream",
                    expect=201)
    assert stored["sha256"] == sha, stored
    s.call("PUT", "/v1/artifacts", op, raw=data, content_type="application/octet-stream")
    got = s.call("GET", f"/v1/artifacts/{sha}", a1)
    if got != data:
        raise Failure("GET /v1/artifacts/{sha256} did not return the uploaded bytes")
    part = s.call("GET", f"/v1/artifacts/{sha}", view, headers={"Range": "bytes=0-9"}, expect=206)
    if part != data[:10]:
        raise Failure(f"a Range download returned {part!r}")
    s.call("GET", "/v1/artifacts/" + "0" * 64, view, expect=404)
    # Answered by the transport itself, with the same error body (details included).
    s.call("GET", f"/v1/artifacts/{sha}", view, headers={"Range": f"bytes={len(data)}-"},
           expect=416, code="invalid_request")
    s.call("PUT", "/v1/artifacts", view, raw=b"x", content_type="application/octet-stream",
           expect=403)

    # Jobs: errors first, nothing is created by them.
    def job(type_, **extra):
        target = {"serverId": "paper"} if type_ in ("INSTALL_SERVER", "UPDATE_SERVER",
                                                   "ACTIVATE_BUILD") else {"instanceId": "mc-1"}
        body = {"agentId": "a1", "type": type_, "payload": example[type_]}
        body.update(target)
        body.update(extra)
        return body

    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", type="NOPE"), expect=400,
           code="unknown_job_type")
    s.call("POST", "/v1/jobs", op, job("PRUNE_BACKUPS", payload={"keepLast": "x"}), expect=400,
           code="invalid_payload")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", payload={"bogus": 1}), expect=400,
           code="invalid_payload")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", priority=1000), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", colour="red"), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/jobs", view, job("STOP_INSTANCE"), expect=403)
    s.call("POST", "/v1/jobs", None, job("STOP_INSTANCE"), expect=401)
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", agentId="ghost"), expect=404)
    s.call("POST", "/v1/jobs", op, raw=b"{", expect=400, code="invalid_json")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", payload={"x": "y" * 70000}), expect=413,
           code="payload_too_large")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", payload={"x": "y" * (1 << 20)}),
           expect=413, code="payload_too_large")  # over the body limit: the transport's answer
    s.call("DELETE", "/v1/jobs", op, expect=405)
    s.call("GET", "/v1/stream", view, expect=405)

    # A queued job cancelled before it ran, then retried.
    queued = s.call("POST", "/v1/jobs", op, job("VERIFY_BACKUP", priority=-50), expect=201)
    s.call("POST", f"/v1/jobs/{queued['id']}/cancel", op, expect=200)
    s.call("POST", f"/v1/jobs/{queued['id']}/cancel", op, expect=409)
    s.call("POST", f"/v1/jobs/{queued['id']}/retry", op, expect=202)
    s.call("POST", f"/v1/jobs/{queued['id']}/cancel", op, expect=200)

    # Idempotency and a batch.
    first = s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", idempotencyKey="k1"), expect=201)
    again = s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", idempotencyKey="k1"), expect=200)
    if again["id"] != first["id"]:
        raise Failure("the same idempotencyKey created a second job")
    s.call("POST", "/v1/jobs", op, job("STOP_INSTANCE", idempotencyKey="k1", priority=5),
           expect=409, code="idempotency_conflict")
    batch_body = job("BACKUP_INSTANCE")
    del batch_body["agentId"]
    batch_body["selector"] = {"labels": {"region": "eu"}}
    batch = s.call("POST", "/v1/jobs", op, batch_body, expect=201)
    if len(batch["jobs"]) != 2:
        raise Failure(f"the selector matched {len(batch['jobs'])} agents, not 2")

    # The agent: notify, next, updates. a1 has STOP_INSTANCE (first, priority 0) and
    # BACKUP_INSTANCE on mc-1; both lock instance:mc-1 exclusively, so one runs at a time.
    s.call("GET", "/v1/agents/a1/notify?wait=0", a1)
    s.call("GET", "/v1/agents/a1/notify?wait=99", a1, expect=400)
    s.call("GET", "/v1/agents/a2/notify?wait=0", a1, expect=403)
    stop = s.call("POST", "/v1/agents/a1/jobs/next", a1, {"running": []})
    if stop["jobId"] != first["id"]:
        raise Failure(f"dispatch handed out {stop['jobId']}, not the first queued job")
    s.call("POST", "/v1/agents/a1/jobs/next", a1, {"running": [stop["runId"]]}, expect=204)
    s.call("POST", f"/v1/jobs/{first['id']}/cancel", op, expect=409,
           code="not_cancellable")  # STOP_INSTANCE
    run = f"/v1/agents/a1/runs/{stop['runId']}/updates"
    s.call("POST", run, a1, {"updates": [{"seq": 1, "status": "RUNNING", "percent": 40,
                                          "message": "stopping", "step": "stop",
                                          "timestamp": now()}],
                             "logs": [{"seq": 1, "timestamp": now(), "level": "info",
                                       "message": "sent the stop command"},
                                      # past the cap of one line (--run-log-max-lines 1)
                                      {"seq": 2, "timestamp": now(), "level": "info",
                                       "message": "waiting for the process"}]})
    s.call("POST", run, a1, {})  # a heartbeat
    s.call("POST", run, a1, {"final": {"seq": 2, "status": "COMPLETED", "result": {"stopped": True},
                                       "timestamp": now()}})
    s.call("POST", run, a1, {"updates": [], "logs": []}, expect=409, code="run_not_active")
    s.call("POST", run, a2, {}, expect=403)  # another agent's path
    s.call("POST", f"/v1/jobs/{first['id']}/retry", op, expect=409,
           code="invalid_state")  # COMPLETED is final

    # The backup runs; a cancel reaches the agent through notify and the updates answer.
    backup = s.call("POST", "/v1/agents/a1/jobs/next", a1)
    s.call("POST", f"/v1/jobs/{backup['jobId']}/cancel", op, expect=202)
    notified = s.call("GET", "/v1/agents/a1/notify?wait=1", a1)
    if backup["runId"] not in notified["cancel"]:
        raise Failure(f"notify did not list the cancelled run: {notified}")
    answer = s.call("POST", f"/v1/agents/a1/runs/{backup['runId']}/updates", a1, {})
    if not answer["cancelRequested"]:
        raise Failure("the updates answer did not carry cancelRequested")
    s.call("POST", f"/v1/agents/a1/runs/{backup['runId']}/updates", a1,
           {"final": {"seq": 1, "status": "CANCELLED", "timestamp": now()}})
    s.call("POST", f"/v1/jobs/{backup['jobId']}/retry", op, expect=202)
    again = s.call("POST", "/v1/agents/a1/jobs/next", a1)
    s.call("POST", f"/v1/agents/a1/runs/{again['runId']}/updates", a1,
           {"final": {"seq": 1, "status": "FAILED", "timestamp": now(),
                      "error": {"code": "io", "message": "disk full", "stack": ["backup"],
                                "retryable": False}}})

    # The other agent's half of the batch.
    b2 = s.call("POST", "/v1/agents/a2/jobs/next", a2)
    s.call("POST", f"/v1/agents/a2/runs/{b2['runId']}/updates", a2,
           {"final": {"seq": 1, "status": "COMPLETED", "result": {"backupId": "b1"},
                      "timestamp": now()}})

    # Dependencies (docs/protocol.md "Job dependencies"): one waits for a job that waits for its
    # time; one depends on the FAILED backup and is cancelled at once; neither can be dispatched.
    later = s.call("POST", "/v1/jobs", op,
                   job("VERIFY_BACKUP", agentId="a2", notBefore="2099-01-01T00:00:00.000Z"),
                   expect=201)
    waiting = s.call("POST", "/v1/jobs", op,
                     job("VERIFY_BACKUP", agentId="a2", dependsOn=[later["id"], first["id"]]),
                     expect=201)
    if waiting["status"] != "CREATED" or waiting["waitingFor"] != [later["id"]]:
        raise Failure(f"a dependent job does not wait as it should: {waiting}")
    doomed = s.call("POST", "/v1/jobs", op,
                    job("VERIFY_BACKUP", agentId="a2", dependsOn=[backup["jobId"]]), expect=201)
    if doomed["status"] != "CANCELLED" or doomed["lastError"]["code"] != "dependency_failed":
        raise Failure(f"a job depending on a FAILED one was not cancelled: {doomed}")
    s.call("POST", f"/v1/jobs/{doomed['id']}/retry", op, expect=409, code="invalid_state")
    s.call("POST", "/v1/jobs", op, job("VERIFY_BACKUP", dependsOn=["no-such-job"]), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/jobs", op, job("VERIFY_BACKUP", dependsOn=[f"j{i}" for i in range(33)]),
           expect=400, code="invalid_request")
    s.call("POST", "/v1/agents/a2/jobs/next", a2, {"running": []}, expect=204)
    s.call("GET", f"/v1/jobs/{waiting['id']}", view)

    # Reading it all back.
    s.call("GET", "/v1/jobs", view)
    listed = s.call("GET", "/v1/jobs?status=COMPLETED&limit=1", view)
    if listed["nextCursor"]:
        s.call("GET", f"/v1/jobs?status=COMPLETED&limit=1&cursor={listed['nextCursor']}", view)
    s.call("GET", f"/v1/jobs?batchId={batch['batchId']}", view)
    s.call("GET", "/v1/jobs?status=DONE", view, expect=400)
    s.call("GET", f"/v1/jobs/{first['id']}", view)
    s.call("GET", f"/v1/jobs/{backup['jobId']}", view)
    s.call("GET", "/v1/jobs/no-such-job", view, expect=404)
    s.call("GET", f"/v1/jobs/{backup['jobId']}/events", view)
    logs = s.call("GET", f"/v1/jobs/{first['id']}/logs", view)
    if len(logs["lines"]) != 1 or logs.get("logsDropped") != 1:
        raise Failure(f"the run log cap of one line did not hold: {logs}")
    s.call("GET", f"/v1/jobs/{first['id']}/logs?runId={stop['runId']}&after=0&limit=10", view)
    s.call("GET", f"/v1/jobs/{first['id']}/logs?limit=0", view, expect=400)
    s.call("GET", "/v1/agents/a1", view)

    # Artifacts: listed with the unfinished jobs that name them; deleted only when none does.
    listed = s.call("GET", "/v1/artifacts", view)
    if [(a["sha256"], a["unfinishedJobs"]) for a in listed["artifacts"]] != [(sha, 0)]:
        raise Failure(f"GET /v1/artifacts listed {listed}")
    install = job("INSTALL_SERVER", notBefore="2099-01-01T00:00:00Z",
                  payload=dict(example["INSTALL_SERVER"],
                               artifact={"url": f"/v1/artifacts/{sha}", "sha256": sha,
                                         "size": len(data), "format": "tar.gz"}))
    waiting = s.call("POST", "/v1/jobs", op, install, expect=201)  # CREATED until 2099
    listed = s.call("GET", "/v1/artifacts", view)
    if listed["artifacts"][0]["unfinishedJobs"] != 1:
        raise Failure(f"GET /v1/artifacts did not count the job naming it: {listed}")
    s.call("DELETE", f"/v1/artifacts/{sha}", op, expect=409, code="invalid_state")
    s.call("DELETE", f"/v1/artifacts/{sha}", view, expect=403)
    s.call("POST", f"/v1/jobs/{waiting['id']}/cancel", op, expect=200)
    s.call("DELETE", f"/v1/artifacts/{sha}", op, expect=204)
    s.call("DELETE", f"/v1/artifacts/{sha}", op, expect=404)
    s.call("GET", f"/v1/artifacts/{sha}", view, expect=404)
    s.call("GET", "/v1/artifacts", view)

    # Rollouts: bad input creates nothing; then one over both agents, paused, resumed, aborted.
    rollout_body = {"name": "prune everywhere",
                    "target": {"selector": {"labels": {"region": "eu"}}},
                    "job": {"type": "PRUNE_BACKUPS", "instanceId": "mc-9",
                            "payload": example["PRUNE_BACKUPS"]},
                    "policy": {"maxInFlight": "50%", "phases": [{"percent": 50}, {"percent": 100}],
                               "abort": {"failedPercent": 20, "minFinished": 5},
                               "hostTimeoutSeconds": 3600},
                    "idempotencyKey": "rollout-1"}
    s.call("POST", "/v1/rollouts", op, dict(rollout_body, job={"type": "NOPE"}), expect=400,
           code="unknown_job_type")
    s.call("POST", "/v1/rollouts", op, dict(rollout_body, policy={"maxInFlight": 0}), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/rollouts", view, rollout_body, expect=403)
    rollout = s.call("POST", "/v1/rollouts", op, rollout_body, expect=201)
    rid = rollout["id"]
    if rollout["counts"]["total"] != 2 or rollout["counts"]["queued"] != 1:
        raise Failure(f"POST /v1/rollouts answered {rollout}")
    s.call("POST", "/v1/rollouts", op, rollout_body, expect=200)
    s.call("POST", "/v1/rollouts", op, dict(rollout_body, name="other"), expect=409,
           code="idempotency_conflict")
    s.call("GET", "/v1/rollouts", view)
    s.call("GET", "/v1/rollouts?status=SLEEPING", view, expect=400)
    history = s.call("GET", "/v1/stats/history?minutes=5", view)
    if len(history["buckets"]) != 5:
        raise Failure(f"GET /v1/stats/history?minutes=5 answered {len(history['buckets'])} minutes")
    s.call("GET", "/v1/stats/history?minutes=0", view, expect=400, code="invalid_request")
    s.call("GET", f"/v1/rollouts/{rid}", view)
    s.call("GET", "/v1/rollouts/no-such-rollout", view, expect=404)
    s.call("GET", f"/v1/rollouts/{rid}/hosts?status=queued&limit=1", view)
    s.call("GET", f"/v1/rollouts/{rid}/hosts?status=bogus", view, expect=400)
    s.call("GET", "/v1/rollouts/no-such-rollout/hosts", view, expect=404)
    s.call("GET", f"/v1/jobs?rolloutId={rid}", view)
    s.call("POST", f"/v1/rollouts/{rid}/pause", view, expect=403)
    s.call("POST", f"/v1/rollouts/{rid}/pause", op)
    s.call("POST", f"/v1/rollouts/{rid}/pause", op, expect=409, code="invalid_state")
    s.call("POST", "/v1/rollouts/no-such-rollout/pause", op, expect=404)
    s.call("POST", f"/v1/rollouts/{rid}/resume", op)
    s.call("POST", f"/v1/rollouts/{rid}/resume", op, expect=409, code="invalid_state")
    s.call("POST", "/v1/rollouts/no-such-rollout/resume", op, expect=404)
    s.call("POST", f"/v1/rollouts/{rid}/abort", op, {"bogus": 1}, expect=400)
    s.call("POST", f"/v1/rollouts/{rid}/abort", op, {"cancelRunning": True})
    s.call("POST", f"/v1/rollouts/{rid}/abort", op, expect=409, code="invalid_state")
    s.call("POST", "/v1/rollouts/no-such-rollout/abort", op, expect=404)
    # Schedules (docs/protocol.md "Schedules"): bad input first, nothing is created by it.
    steps = [{"type": "BACKUP_INSTANCE", "instanceId": "mc-1", "payload": {}},
             {"type": "PRUNE_BACKUPS", "instanceId": "mc-1", "payload": {"keepLast": 7}}]
    nightly = {"name": "nightly", "cron": "0 4 * * *", "timeZone": "Europe/Berlin",
               "target": {"agentIds": ["a1", "a2"]}, "steps": steps}
    s.call("POST", "/v1/schedules", op, dict(nightly, cron="0 25 * * *"), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/schedules", op, dict(nightly, timeZone="Mars/Olympus"), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/schedules", op, dict(nightly, colour="red"), expect=400,
           code="invalid_request")
    s.call("POST", "/v1/schedules", view, nightly, expect=403)
    if s.call("GET", "/v1/schedules", view)["schedules"]:
        raise Failure("a rejected schedule was created")
    schedule = s.call("POST", "/v1/schedules", op, nightly, expect=201)
    s.call("POST", "/v1/schedules", op,
           dict(nightly, name="weekly", cron="0 0 4 * * SUN", overlap="queue", catchUp="latest",
                target={"selector": {"labels": {"region": "eu"}}}), expect=201)
    page = s.call("GET", "/v1/schedules?limit=1", view)
    s.call("GET", f"/v1/schedules?limit=1&cursor={page['nextCursor']}", view)
    s.call("GET", "/v1/schedules?cursor=nonsense", view, expect=400)
    # A bad cursor names the field, as every invalid_request about one field does.
    for path in ("/v1/jobs", "/v1/rollouts", "/v1/schedules"):
        bad = s.call("GET", f"{path}?cursor=zz", view, expect=400, code="invalid_request")
        if [d["field"] for d in bad["error"]["details"]] != ["cursor"]:
            raise Failure(f"GET {path}?cursor=zz: details {bad['error']['details']!r}")
    s.call("PATCH", f"/v1/schedules/{schedule['id']}", op, {"name": "nightly backup"})
    s.call("PATCH", f"/v1/schedules/{schedule['id']}", op, {"cron": "61 * * * *"}, expect=400)
    s.call("PATCH", "/v1/schedules/no-such-schedule", op, {"name": "x"}, expect=404)
    fired = s.call("POST", f"/v1/schedules/{schedule['id']}/fire", op, expect=201)
    if len(fired["jobs"]) != 4 or fired["jobs"][1]["dependsOn"] != [fired["jobs"][0]["id"]]:
        raise Failure(f"a fire did not chain the steps on both hosts: {fired}")
    s.call("POST", "/v1/schedules/no-such-schedule/fire", op, expect=404)
    s.call("GET", f"/v1/jobs?scheduleId={schedule['id']}", view)
    got = s.call("GET", f"/v1/schedules/{schedule['id']}", view)
    if len(got["lastFires"]) != 1 or got["lastFires"][0]["jobCount"] != 4:
        raise Failure(f"lastFires does not show the fire: {got}")
    s.call("GET", "/v1/schedules/no-such-schedule", view, expect=404)
    s.call("DELETE", f"/v1/schedules/{schedule['id']}", view, expect=403)
    s.call("DELETE", f"/v1/schedules/{schedule['id']}", op, expect=204)
    s.call("DELETE", f"/v1/schedules/{schedule['id']}", op, expect=404)

    # Revocation.
    s.call("DELETE", "/v1/agents/a2", admin, expect=204)
    s.call("POST", "/v1/agents/a2/hello", a2, hello, expect=401)
    s.call("GET", "/v1/agents", view)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cmdr", required=True)
    parser.add_argument("--print-routes", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()
    try:
        spec = load_spec(args.spec)
        validator = Validator(spec)
        routes = check_routes(spec, args.print_routes)
        with tempfile.TemporaryDirectory(prefix="openapi-test-") as tmp:
            port = free_port()
            env = dict(os.environ, FLEET_CMDR_ADMIN_TOKEN=ADMIN_TOKEN)
            log_path = os.path.join(tmp, "fleet-cmdr.log")
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    [args.cmdr, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                     os.path.join(tmp, "data"), "--run-log-max-lines", "1"], stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_healthy(base, process)
                session = Session(base, spec, routes, validator)
                try:
                    run_session(session)
                except Failure:
                    with open(log_path) as log:
                        sys.stderr.write("--- fleet-cmdr log (last lines)\n")
                        sys.stderr.write("".join(log.readlines()[-30:]))
                    raise
                check_stream(port, spec, validator, session.viewer_token)
                missed = sorted(set(routes) - session.called)
                if missed:
                    raise Failure("the session never called: " +
                                  ", ".join(f"{m.upper()} {p}" for m, p in missed))
                print(f"bodies: {len(validator.seen)} (operation, status) pairs validated, "
                      f"every route called")
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    except Failure as failure:
        print(f"openapi_test: FAILED\n{failure}", file=sys.stderr)
        return 1
    print("openapi_test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
