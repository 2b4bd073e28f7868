#!/usr/bin/env bash
# Run every peer's benchmarks in turn (each starts and stops its own servers), then print the tables.
# PEERS="beanstalkd sqlite" ./run_all.sh to run a subset. Results: $BENCH_WORK/results/*.jsonl
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-"http-ceiling beanstalkd sqlite postgres-raw graphile-worker bullmq pg-boss"}
for p in $PEERS; do
  echo "=== $p ===" >&2
  "$HERE/$p/run.sh" || echo "!!! $p failed (exit $?)" >&2
done
python3 "$HERE/common/summarize.py" "${RESULTS_DIR:-${BENCH_WORK:-/tmp/fleet-peers-bench}/results}" --runs "${RUNS:-3}"
