#!/usr/bin/env python3
"""hot_text.py: regenerate src/main/orb-jobs-agent-hot.ld, the code and data the idle agent uses.

The static orb-jobs-agent links the code it runs and the read-only data it reads from start-up to
an idle https long-poll into two output sections, `.text.hot_agent` and `.rodata.hot_agent`, in
front of the rest (the agent's idle memory target of 8 MB). Every page the agent touches once
stays resident, and each fault maps its 64 KiB neighbourhood as well, so scattered code and tables
cost resident memory far beyond their size (docs/benchmarks.md, "orb-jobs-agent").

How the list is found, against the real fleet-cmdr and agent over https on 127.0.0.1:
0. The agent's host holds what a game-server host holds (a server with two builds, a running
   instance, a verified backup): an untraced agent installs, starts and backs them up through
   fleet-cmdr's jobs and stops; the traced agent then starts on the same root. fleet-cmdr
   tells it to beat every second (--heartbeat-seconds 1), so the inventory check the idle agent runs
   every heartbeat (docs/decisions/0024: a walk of builds, instances with their /proc probe,
   backups) runs several times while it is traced, over the files it really parses, and the jobs'
   own code is not traced.
1. valgrind's lackey tool traces every instruction the agent runs and every byte it reads until it
   is long-polling; each address is mapped to its input section through the agent's link map
   (orb-jobs-agent.map, written by every static link).
2. The list is written and the agent relinked; then `perf record -e page-faults` on the real agent
   (no valgrind: the CPU's own features pick OpenSSL's code paths) shows faults outside the hot
   sections; their sections join the list. Repeated until nothing new faults in.

Needs valgrind and perf (`apt-get install valgrind linux-perf`), a release build of
orb-jobs-agent and fleet-cmdr, and openssl. A stale list is harmless for correctness (patterns
that match nothing are ignored by the linker) but costs resident memory; ctest
`agent.hot_text_current` fails when too few of the listed sections still exist
(tests/integration/agent/check_hot_text.py).

    bench/agent/hot_text.py [--build build/release] [--rounds 4]
"""
import argparse
import bisect
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "src/main/orb-jobs-agent-hot.ld"
# Each packed output section, the default one its input sections come from, and where it goes:
# the code in front of .text, the data after .rodata (in front, it would land in the code segment).
HOT = {".text.hot_agent": (".text", "INSERT BEFORE .text"),
       ".rodata.hot_agent": (".rodata", "INSERT AFTER .rodata")}
# Merged constants and strings: the link map's addresses inside them are not where their contents
# end up, so they are not found by address; an object's merged sections go with its other hot ones,
# where an object is hot when any of its code or data is used (tables of names in .data.rel.ro
# point into the object's strings).
DATA = (".data.rel.ro", ".data")
MERGED = re.compile(r"\.(str|cst)\d+(\.\d+)?$")
ADMIN = "hot-text-admin-token-0123456789abcdef0123456789"
# The instance's program (the fake game server of tests/integration/agent/fake_game_server.hpp):
# says it is ready, saves and exits on "stop".
GAME_SERVER = """#!/bin/sh
echo "Done (0.1s)! For help, type help"
while read -r line; do
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
done
exit 4
"""
START_CONFIG = {"config": {"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop",
                           "readyPattern": "Done \\(", "readyTimeoutSeconds": 10,
                           "stopTimeoutSeconds": 5}}


def input_sections(map_path):
    """(address, size, section, file) of every non-empty input section of code and read-only data."""
    out, inside, pending = [], False, None
    for line in open(map_path, encoding="utf-8", errors="replace"):
        if re.match(r"^\.\S", line):
            inside = line.split()[0] in (*HOT, *(d for d, _ in HOT.values()), *DATA)
            pending = None
            continue
        if not inside:
            continue
        m = re.match(r"^ (\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            out.append((int(m[2], 16), int(m[3], 16), m[1], m[4].strip()))
            pending = None
            continue
        m = re.match(r"^ (\.\S+)\s*$", line)
        if m:
            pending = m[1]
            continue
        m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m and pending:
            out.append((int(m[1], 16), int(m[2], 16), pending, m[3].strip()))
            pending = None
    return sorted(s for s in out if s[1] > 0)


def pattern(section, file):
    """The linker-script input section description of one input section."""
    m = re.match(r"^(.*?)\((.*)\)$", file)
    if m:
        return f"*{Path(m[1]).name}:{m[2]}({section})"
    return f"*{Path(file).name}({section})"


def output_section_range(map_path, name):
    """[start, end) of an output section in a GNU ld map (a long name puts the numbers on the next line)."""
    lines = open(map_path, encoding="utf-8", errors="replace").read().split("\n")
    for i, line in enumerate(lines):
        if line.split()[:1] == [name] and not line.startswith(" "):
            rest = " ".join(line.split()[1:]) or lines[i + 1]
            m = re.match(r"\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)", rest)
            if m:
                return int(m[1], 16), int(m[1], 16) + int(m[2], 16)
    return None


class Layout:
    def __init__(self, map_path):
        self.sections = input_sections(map_path)
        self.starts = [s[0] for s in self.sections]
        self.hot = [r for name in HOT if (r := output_section_range(map_path, name))]

    def in_hot(self, offset):
        return any(a <= offset < b for a, b in self.hot)

    def at(self, offset):
        i = bisect.bisect_right(self.starts, offset) - 1
        if i >= 0:
            a, n, name, file = self.sections[i]
            if a <= offset < a + n and not MERGED.search(name):
                return (name, file)
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_idle_agent(bins, prefix, settle):
    """Runs fleet-cmdr over https and the agent (behind `prefix`) until it has long-polled for
    `settle` seconds after coming online; returns the agent's exit code."""
    work = Path(tempfile.mkdtemp(prefix="orb-hot-text-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", work / "key.pem", "-out", work / "cert.pem"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=str(work / "cert.pem"))
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = dict(os.environ, FLEET_CMDR_ADMIN_TOKEN=ADMIN)
    cmdr = subprocess.Popen([bins / "fleet-cmdr", "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", work / "cmdr", "--log-level", "warn",
                             "--heartbeat-seconds", "1",
                             "--tls-cert", work / "cert.pem", "--tls-key", work / "key.pem"], env=env)
    agent = None
    instance_pid = None
    try:
        def call(path, body=None):
            req = urllib.request.Request(base + path, data=body, headers={
                "Authorization": "Bearer " + ADMIN, "Content-Type": "application/json"})
            return json.load(urllib.request.urlopen(req, context=ctx, timeout=5))
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", context=ctx, timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # The host is furnished by `prep-1`, then traced as `hot-1`: the same root, each its own
        # state and identity (so "hot-1 online" is the traced agent's hello).
        def start_agent(agent_id, argv_prefix):
            token = work / f"{agent_id}.token"
            token.write_text(call("/v1/agents", json.dumps({"agentId": agent_id}).encode())["token"])
            agent = subprocess.Popen(argv_prefix + [
                bins / "orb-jobs-agent", "--server", base, "--ca-file", work / "cert.pem",
                "--agent-id", agent_id, "--token-file", token, "--root", work / "root",
                "--state-dir", work / f"state-{agent_id}", "--instance-supervisor", "process",
                "--log-level", "warn"])
            # Under valgrind on a busy machine, the hello can take minutes.
            deadline = time.monotonic() + (600 if argv_prefix else 180)
            while not call(f"/v1/agents/{agent_id}").get("online"):
                if time.monotonic() > deadline or agent.poll() is not None:
                    raise RuntimeError(f"{agent_id} did not come online")
                time.sleep(0.5)
            return agent

        agent = start_agent("prep-1", [])
        instance_pid = furnish_host(call, base, ctx, work)
        agent.terminate()
        agent.wait(timeout=60)
        agent = start_agent("hot-1", prefix)
        time.sleep(settle)  # steady long-polling and inventory checks: what "idle" means
        agent.terminate()
        return agent.wait(timeout=120)
    finally:
        if agent and agent.poll() is None:
            agent.kill()
        if instance_pid:
            try:
                os.killpg(instance_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        cmdr.terminate()
        cmdr.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def furnish_host(call, base, ctx, work):
    """Server s1 with builds b1 and b2 (current), instance i1 running, backup `first` verified,
    made by the agent's own jobs; returns the instance's pid (a process group: it outlives the
    agent)."""
    def build(version):
        tree = work / f"tree-{version}"
        (tree / "bin").mkdir(parents=True)
        (tree / "bin/start.sh").write_text(GAME_SERVER)
        (tree / "bin/start.sh").chmod(0o755)
        (tree / "version.txt").write_text(version + "\n")
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            tar.add(tree, arcname=".")
        body = data.getvalue()
        req = urllib.request.Request(base + "/v1/artifacts", data=body, method="PUT", headers={
            "Authorization": "Bearer " + ADMIN, "Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, context=ctx, timeout=30).read()
        sha = hashlib.sha256(body).hexdigest()
        return {"url": "/v1/artifacts/" + sha, "sha256": sha, "size": len(body)}

    def run(job_type, target, payload):
        key = "serverId" if job_type == "INSTALL_SERVER" else "instanceId"
        job = call("/v1/jobs", json.dumps({"agentId": "prep-1", "type": job_type, key: target,
                                           "payload": payload, "maxAttempts": 1}).encode())
        deadline = time.monotonic() + 120
        while (status := call("/v1/jobs/" + job["id"])["status"]) not in (
                "COMPLETED", "FAILED", "CANCELLED"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{job_type} did not end")
            time.sleep(0.2)
        if status != "COMPLETED":
            raise RuntimeError(f"{job_type} {target}: {status}")

    run("INSTALL_SERVER", "s1", {"buildId": "b1", "artifact": build("b1")})
    run("INSTALL_SERVER", "s1", {"buildId": "b2", "activate": True, "artifact": build("b2")})
    run("START_INSTANCE", "i1", START_CONFIG)
    run("BACKUP_INSTANCE", "i1", {"backupId": "first"})
    run("VERIFY_BACKUP", "i1", {"backupId": "first", "level": "quick"})
    return json.loads((work / "root/instances/i1/runtime.json").read_text())["pid"]


def lackey_sections(bins, layout):
    """Sections of every instruction run and every byte read (lackey's I, L and M lines)."""
    log = Path(tempfile.mkstemp(prefix="orb-hot-lackey-")[1])
    run_idle_agent(bins, ["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}"],
                   settle=10)
    addrs = set()
    with open(log, "rb") as f:
        for line in f:
            if line[:2] in (b"I ", b" L", b" M"):
                addrs.add(int(line[3:].split(b",")[0], 16))
    log.unlink()
    start = int(subprocess.run(["nm", bins / "orb-jobs-agent"], capture_output=True, text=True,
                               check=True).stdout.split(" T _start\n")[0].split("\n")[-1], 16)
    base = next((b for b in (0x108000, 0x4000000) if b + start in addrs), None)
    if base is None:
        sys.exit("cannot find where valgrind loaded the agent (no block at _start)")
    return {s for a in addrs if (s := layout.at(a - base))}


def fault_sections(bins, layout):
    data = Path(tempfile.mkstemp(prefix="orb-hot-perf-")[1])
    run_idle_agent(bins, ["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-o",
                          str(data), "--"], settle=5)
    agent = str(bins / "orb-jobs-agent")
    mmaps = subprocess.run(["perf", "script", "-i", data, "--show-mmap-events", "-F", "comm"],
                           capture_output=True, text=True).stdout
    base = None
    for m in re.finditer(r"PERF_RECORD_MMAP2? \d+/\d+: \[0x([0-9a-f]+)\(0x[0-9a-f]+\) @ 0x([0-9a-f]+)"
                         r"[^\]]*\]: r-xp (\S+)", mmaps):
        if os.path.realpath(m[3]) == os.path.realpath(agent):
            base = int(m[1], 16) - int(m[2], 16)
    if base is None:
        sys.exit("no mapping of the agent's code in the perf data")
    faults = subprocess.run(["perf", "script", "-i", data, "-F", "addr"], capture_output=True,
                            text=True).stdout.split()
    data.unlink()
    found, cold = set(), 0
    for f in faults:
        off = int(f, 16) - base
        if not layout.in_hot(off) and (s := layout.at(off)) and movable(s[0]):
            found.add(s)
            cold += 1
    print(f"  {cold} faults outside {', '.join(HOT)}", file=sys.stderr)
    return found


def movable(name):
    return any(name == d or name.startswith(d + ".") for d, _ in HOT.values())


def write_script(layout, chosen):
    text = ['/* The code and read-only data orb-jobs-agent uses from start-up to an idle https\n'
            '   long-poll, packed in front of the rest so that they stay resident in few pages (the idle\n'
            '   memory target, docs/benchmarks.md). Generated by bench/agent/hot_text.py; do not edit by\n'
            '   hand. Patterns that match nothing are ignored: a stale list costs memory, not correctness. */\n']
    total = 0
    hot_files = {file for _, file in chosen}
    chosen = chosen | {(name, file) for _, _, name, file in layout.sections
                       if file in hot_files and MERGED.search(name)}
    for hot, (default, insert) in HOT.items():
        lines = []  # in link order: hot ones first; dict for order without repeats
        for a, n, name, file in layout.sections:
            if (name, file) in chosen and (name == default or name.startswith(default + ".")):
                lines.append(pattern(name, file))
        lines = list(dict.fromkeys(lines))
        body = "\n".join(f"    {p}" for p in lines)
        text.append(f"SECTIONS\n{{\n  {hot} :\n  {{\n{body}\n  }}\n}}\n{insert};\n")
        total += len(lines)
    SCRIPT.write_text("".join(text))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release", type=Path)
    ap.add_argument("--rounds", default=4, type=int)
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    bins = build / "src/main"

    def relink():
        subprocess.run(["cmake", "--build", build, "--target", "orb-jobs-agent", "fleet-cmdr"],
                       check=True, stdout=subprocess.DEVNULL)
        return Layout(str(bins / "orb-jobs-agent") + ".map")

    layout = relink()
    chosen = lackey_sections(bins, layout)
    print(f"lackey: {len(chosen)} sections", file=sys.stderr)
    for r in range(args.rounds):
        print(f"round {r + 1}: {write_script(layout, chosen)} sections listed", file=sys.stderr)
        layout = relink()
        new = fault_sections(bins, layout) - chosen
        if not new:
            break
        chosen |= new
        print(f"  +{len(new)} sections", file=sys.stderr)
    n = write_script(layout, chosen)
    relink()
    size = sum(n for _, n, name, file in layout.sections if (name, file) in chosen and movable(name))
    print(f"{SCRIPT.relative_to(ROOT)}: {n} sections, {size / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
