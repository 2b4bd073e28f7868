#!/usr/bin/env python3
"""Reports whether src/main/orb-jobs-agent-hot.ld is applied to a static agent and still current.

The static agent packs the code it runs and the data it reads while idle into `.text.hot_agent`
and `.rodata.hot_agent` (its idle RSS; bench/agent/hot_text.py writes the list from a release
build, docs/benchmarks.md). The list names input sections of our own objects and of Debian's
static archives, so a change of our code or an apt upgrade of OpenSSL, SQLite, Boost or libstdc++
can leave it stale. A stale list costs idle memory, never correctness, so this is a benchmark
check that reports (bench/agent/agent_idle.sh runs it), not a test: it says "stale" and exits 1
when `.text.hot_agent` is missing or under 1 MiB, or when too few listed sections are still in the
link (our own functions: 85 % in a Release build, which the list is made from, 60 % in others,
where -O1 inlines differently; the Debian archives: 90 %). Then rerun bench/agent/hot_text.py on a
release build and commit the list. Unity builds (ORB_UNITY_BUILD, off in the release preset) name
our objects by batch, so only a non-unity build matches the list.

Usage: check_hot_text.py LINK_SCRIPT LINK_MAP BUILD_TYPE
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hot_text  # noqa: E402

script, map_path, build_type = sys.argv[1:4]
patterns = re.findall(r"^\s+(\*\S+\(\S+\))$", Path(script).read_text(), re.M)
ranges = {name: hot_text.output_section_range(map_path, name) for name in hot_text.HOT}
text = ranges[".text.hot_agent"]
if not text or text[1] - text[0] < 1 << 20:
    sys.exit(f".text.hot_agent is missing or under 1 MiB in {map_path}: is {script} linked in?")
placed = {hot_text.pattern(name, file) for a, n, name, file in hot_text.input_sections(map_path)
          if any(r and r[0] <= a < r[1] for r in ranges.values())}
ours = [p for p in patterns if p.startswith("*liborb_") or p.startswith("*orb_")]
theirs = [p for p in patterns if not (p.startswith("*liborb_") or p.startswith("*orb_"))]
failed = False
for label, group, need in (("Debian archives", theirs, 0.9),
                           ("orb-jobs code", ours, 0.85 if build_type == "Release" else 0.6)):
    share = sum(p in placed for p in group) / max(len(group), 1)
    print(f"{label}: {share:.0%} of {len(group)} listed sections placed (need {need:.0%})")
    failed |= share < need
for name, r in ranges.items():
    print(f"{name}: {(r[1] - r[0]) / 1024 if r else 0:.0f} KiB")
if failed:
    sys.exit("the list is stale: run bench/agent/hot_text.py on a release build and commit it")
