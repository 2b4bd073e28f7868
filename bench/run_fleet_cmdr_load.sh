#!/bin/sh
# Runs every fleet_cmdr_load workload RUNS times (default 3) against the release build and
# appends the markdown rows to $OUT (default /tmp/fleet-cmdr-load.md). Run from the repo root
# after: cmake --preset release && cmake --build --preset release --target fleet-cmdr fleet_cmdr_load
set -eu
RUNS=${RUNS:-3}
OUT=${OUT:-/tmp/fleet-cmdr-load.md}
LOAD=${LOAD:-build/release/bench/fleet_cmdr_load}
run() {
  for i in $(seq "$RUNS"); do
    echo "# $*  (run $i)" >> "$OUT"
    "$LOAD" "$@" >> "$OUT" 2>> "$OUT.log" || echo "| failed: $* |" >> "$OUT"
  done
}
run w1
run w1 --backlog 2000
run w2 --idle-agents 1000
run w2 --idle-agents 10000
run idle --connections 64
run idle --connections 1024
