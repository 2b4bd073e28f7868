#!/usr/bin/env bash
# W2 (create -> notify latency) with and without orchestration beside it, interleaved
# (docs/benchmarks.md, "Orchestration beside W2"): each round runs `fleet_cmdr_load w2` plain and
# with --orchestration (a rollout over the IDLE agents, which then take and finish jobs, and
# SCHEDULES schedules of 3 steps over 100 hosts each firing during the samples), the order
# alternating from round to round, each against a fresh fleet-cmdr. Prints every row, then the
# median p99 of each side and their difference.
# Run from the repo root after:
#   cmake --preset release && cmake --build --preset release --target fleet-cmdr fleet_cmdr_load
# Environment: ROUNDS (3), IDLE (10000), SAMPLES (2000), SCHEDULES (100), OUT (/tmp/orch-load.md),
# LOAD (build/release/bench/fleet_cmdr_load), and ARGS: extra fleet_cmdr_load options (e.g.
# "--server-arg=--store --server-arg=postgresql://...").
set -euo pipefail
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-10000}
SAMPLES=${SAMPLES:-2000}
SCHEDULES=${SCHEDULES:-100}
OUT=${OUT:-/tmp/orch-load.md}
LOAD=${LOAD:-build/release/bench/fleet_cmdr_load}
read -r -a extra <<< "${ARGS:-}"
: > "$OUT"
tsv="$OUT.tsv"
: > "$tsv"
run() {  # side, then fleet_cmdr_load's w2 options
  local side=$1
  shift
  local row
  row=$("$LOAD" "${extra[@]}" w2 --idle-agents "$IDLE" --samples "$SAMPLES" "$@" 2>> "$OUT.log")
  echo "$row" | tee -a "$OUT"
  # | label | label | samples | p50 | p95 | p99 | max | cores |
  echo "$row" | awk -F'|' -v s="$side" '{ gsub(/ /, "", $7); print s "\t" $7 }' >> "$tsv"
}
for round in $(seq "$ROUNDS"); do
  echo "# round $round" | tee -a "$OUT"
  if (( round % 2 )); then
    run plain
    run orchestration --orchestration --schedules "$SCHEDULES"
  else
    run orchestration --orchestration --schedules "$SCHEDULES"
    run plain
  fi
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
plain=$(awk -F'\t' '$1 == "plain" { print $2 }' "$tsv" | median)
orch=$(awk -F'\t' '$1 == "orchestration" { print $2 }' "$tsv" | median)
echo "median p99: plain $plain ms, with orchestration $orch ms, difference $(awk -v a="$orch" -v b="$plain" 'BEGIN { printf "%+.2f", a - b }') ms" | tee -a "$OUT"
echo "(per-run details, the orchestration's progress included: $OUT.log)"
