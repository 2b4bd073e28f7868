#!/usr/bin/env bash
# W1 (throughput) and W2 (create -> notify latency) of docs/benchmarks.md, side by side in one run
# on one machine, against:
#   pg1     fleet-cmdr on PostgreSQL, one replica
#   pg2     fleet-cmdr on PostgreSQL, two replicas on the one database: operators create jobs
#           through A, the agents (hello, notify, jobs/next, updates) use B (decision 0016)
#   raw     a raw PostgreSQL queue: SELECT ... FOR UPDATE SKIP LOCKED, one transaction per
#           operation, LISTEN/NOTIFY for W2 (bench/pg_queue_load.cpp)
#   sqlite  fleet-cmdr on its SQLite store
# PostgreSQL is one throwaway cluster (scripts/pg-test-cluster.sh: fsync and synchronous_commit
# on), a fresh database per run. The runs are interleaved: ROUNDS rounds, each running every
# workload on every configuration, the order rotated from round to round, so that a change in the
# machine's load hits all of them alike. Every row carries the cores used (client / fleet-cmdr /
# PostgreSQL / other) and every run's load average is in $OUT.log; the medians are printed at the
# end. Run from the repo root after:
#   cmake --preset release && cmake --build --preset release --target fleet-cmdr fleet_cmdr_load pg_queue_load
# Environment: ROUNDS (3), JOBS (W1, 20000), SAMPLES (W2, 500), IDLE (W2's idle agents, 1000),
# OUT (/tmp/pg-comparison.md), BIN (build/release), CONFIGS ("pg1 pg2 raw sqlite").
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-20000}
SAMPLES=${SAMPLES:-500}
IDLE=${IDLE:-1000}
OUT=${OUT:-/tmp/pg-comparison.md}
BIN=${BIN:-build/release}
read -r -a configs <<<"${CONFIGS:-pg1 pg2 raw sqlite}"
load=$BIN/bench/fleet_cmdr_load
raw=$BIN/bench/pg_queue_load
cmdr=$BIN/src/main/fleet-cmdr
for program in "$load" "$raw" "$cmdr"; do
  [[ -x $program ]] || { echo "no $program: build the release preset first (see above)" >&2; exit 1; }
done

pg=$(mktemp -d "${TMPDIR:-/tmp}/orb-pg-bench.XXXXXX")
trap 'scripts/pg-test-cluster.sh destroy "$pg"' EXIT
scripts/pg-test-cluster.sh start "$pg"
admin_url=$(cat "$pg/url")
postmaster=$(head -1 "$(cat "$pg/datadir")/data/postmaster.pid")
database=""
fresh_database() {
  database="bench_$((RANDOM))_$((RANDOM))"
  psql -qX -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $database" >/dev/null
}
drop_database() {
  psql -qX "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
}

tsv=$OUT.tsv
: >"$tsv"
# The machine is shared: wait at most 4 s for it to be quiet, then measure anyway (the load
# average and the other cores are recorded).
common=(--server-binary "$cmdr" --quiet-wait 4 --database-pid "$postmaster")
run() {  # WORKLOAD CONFIG: appends the row to $OUT and "config workload columns..." to $tsv
  local workload=$1 config=$2 row="" label store=()
  fresh_database
  local url="${admin_url%/*}/$database"
  store=(--server-arg=--store "--server-arg=$url")
  case $config in
    pg1) label="fleet-cmdr | PostgreSQL, 1 replica" ;;
    pg2) label="fleet-cmdr | PostgreSQL, 2 replicas, create on A, agent on B"; store+=(--replicas 2) ;;
    sqlite) label="fleet-cmdr | SQLite"; store=() ;;
    raw) label="PostgreSQL raw | SKIP LOCKED, txn per operation" ;;
  esac
  local args
  if [[ $config == raw ]]; then
    if [[ $workload == w1 ]]; then args=(w1 --jobs "$JOBS"); else args=(w2 --samples "$SAMPLES"); fi
    echo "# $workload $config: load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT.log"
    row=$("$raw" --url "$url" --database-pid "$postmaster" --label "$label" "${args[@]}" 2>>"$OUT.log") || true
  else
    if [[ $workload == w1 ]]; then
      args=(w1 --jobs "$JOBS")
    else
      args=(w2 --samples "$SAMPLES" --idle-agents "$IDLE")
      label+=", $IDLE idle agents"
    fi
    echo "# $workload $config: load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT.log"
    row=$("$load" "${common[@]}" "${store[@]}" --label "$label" "${args[@]}" 2>>"$OUT.log") || true
  fi
  drop_database
  if [[ -z $row ]]; then
    echo "| failed: $workload $config (see $OUT.log) |" | tee -a "$OUT"
    return
  fi
  echo "$row $(cut -d' ' -f1 /proc/loadavg) |" | tee -a "$OUT"
  # Columns after the label's two: W1 jobs, e2e, enqueue, ...; W2 samples, p50, p95, p99, max.
  awk -F'|' -v c="$config" -v w="$workload" '{ print c, w, $4, $5, $6, $7, $8 }' <<<"$row" >>"$tsv"
}

echo "# bench/run_pg_comparison.sh $(date -u +%FT%TZ), $(nproc) cores, ROUNDS=$ROUNDS JOBS=$JOBS SAMPLES=$SAMPLES IDLE=$IDLE" | tee -a "$OUT"
count=${#configs[@]}
for ((round = 0; round < ROUNDS; round++)); do
  for workload in w1 w2; do
    for ((i = 0; i < count; i++)); do
      run "$workload" "${configs[$(((i + round) % count))]}"
    done
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "medians of $ROUNDS rounds (all runs in $OUT):"
for config in "${configs[@]}"; do
  e2e=$(awk -v c="$config" '$1 == c && $2 == "w1" { print $4 }' "$tsv" | median)
  p50=$(awk -v c="$config" '$1 == c && $2 == "w2" { print $4 }' "$tsv" | median)
  p99=$(awk -v c="$config" '$1 == c && $2 == "w2" { print $6 }' "$tsv" | median)
  printf '  %-7s W1 e2e %8s jobs/s   W2 p50 %6s ms  p99 %6s ms\n' "$config" "${e2e:--}" "${p50:--}" "${p99:--}"
done
