#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and benchmarks, never a shared server.
#
#   scripts/pg-test-cluster.sh start DIR    create the cluster (first time) or start it again; then
#                                           DIR/url holds how to connect (postgresql://orb@127.0.0.1:PORT/postgres)
#   scripts/pg-test-cluster.sh stop DIR     fast shutdown, data kept (start again with start)
#   scripts/pg-test-cluster.sh kill DIR     immediate shutdown, as a crash would (start recovers)
#   scripts/pg-test-cluster.sh destroy DIR  stop it if running and remove everything
#   scripts/pg-test-cluster.sh standby DIR PRIMARY_DIR
#                                           a synchronous standby of the running cluster of
#                                           PRIMARY_DIR (streaming replication; the primary's
#                                           commits wait for it from then on), started like one
#   scripts/pg-test-cluster.sh promote DIR  the standby in DIR becomes a primary
#
# The data lives in a temporary directory of its own (DIR/datadir says where), owned by postgres
# when this runs as root (initdb refuses root), with its own socket directory, on a free port of
# 127.0.0.1 (kept across restarts). Settings: fsync and synchronous_commit on (we measure
# durability-relevant costs), small memory for a 2-core machine, 300 connections (tests open
# several stores, each with a few connections), superuser `orb` with trust authentication.
# Uses Debian's postgresql package: PG_BIN (default /usr/lib/postgresql/15/bin) has initdb and
# pg_ctl. Exit status non-zero with the reason on stderr when the cluster cannot start.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
usage() { echo "usage: $0 start|stop|kill|destroy|promote DIR, or $0 standby DIR PRIMARY_DIR" >&2; exit 2; }
[[ $# -eq 2 || ($# -eq 3 && $1 == standby) ]] || usage
command=$1
dir=$(realpath -m "$2")
primary_dir=$([[ $# -eq 3 ]] && realpath -m "$3" || true)

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

data_root() { cat "${1:-$dir}/datadir" 2>/dev/null || true; }

running() {
  local root
  root=$(data_root)
  [[ -n $root && -f $root/data/postmaster.pid ]] && as_postgres "$PG_BIN/pg_ctl" -D "$root/data" status >/dev/null 2>&1
}

# A new temporary directory for the cluster's files, owned by postgres, with its socket
# directory; DIR/datadir says where. Prints it.
new_data_root() {
  local root
  mkdir -p "$dir"
  root=$(mktemp -d "${TMPDIR:-/tmp}/orb-pg-test.XXXXXX")
  chmod 755 "$root"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$root"
  echo "$root" > "$dir/datadir"
  as_postgres mkdir -p "$root/sock"
  echo "$root"
}

# Runs a command as postgres with its output in DIR/initdb.log, shown when it fails.
run_logged() {
  local what=$1
  shift
  if ! as_postgres "$@" > "$dir/initdb.log" 2>&1; then
    echo "pg-test-cluster: $what failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  fi
}

init_cluster() {
  [[ -x $PG_BIN/initdb ]] || { echo "pg-test-cluster: no $PG_BIN/initdb (apt-get install postgresql)" >&2; exit 1; }
  local root
  root=$(new_data_root)
  run_logged initdb "$PG_BIN/initdb" -D "$root/data" -U orb --auth=trust -E UTF8 --no-locale
  as_postgres tee -a "$root/data/postgresql.conf" > /dev/null <<EOF
# scripts/pg-test-cluster.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root/sock'
max_connections = 300
shared_buffers = 64MB
work_mem = 4MB
maintenance_work_mem = 64MB
fsync = on
synchronous_commit = on
wal_level = replica
max_wal_senders = 4
max_wal_size = 512MB
checkpoint_timeout = 15min
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
}

start_cluster() {
  local root port log
  root=$(data_root)
  log="$dir/postgres.log"
  as_postgres touch "$root/postgres.log"
  for _ in 1 2 3 4 5 6 7 8; do
    if [[ -f $dir/port ]]; then
      port=$(cat "$dir/port")
    else
      port=$((20000 + RANDOM % 40000))
    fi
    if as_postgres "$PG_BIN/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t 60 \
        -o "-p $port" start > /dev/null 2>&1; then
      echo "$port" > "$dir/port"
      echo "postgresql://orb@127.0.0.1:$port/postgres" > "$dir/url"
      ln -sf "$root/postgres.log" "$log"
      return 0
    fi
    # Another program has the port: try another one (a restart keeps the port it had).
    if [[ ! -f $dir/port ]] && grep -q "could not bind\|Address already in use" "$root/postgres.log"; then
      continue
    fi
    break
  done
  echo "pg-test-cluster: PostgreSQL did not start; its log:" >&2
  tail -n 30 "$root/postgres.log" >&2
  exit 1
}

case $command in
  start)
    if running; then
      exit 0
    fi
    root=$(data_root)
    if [[ -z $root || ! -f $root/data/PG_VERSION ]]; then
      rm -f "$dir/port"
      init_cluster
    fi
    start_cluster
    ;;
  stop)
    running && as_postgres "$PG_BIN/pg_ctl" -D "$(data_root)/data" -m fast -w stop > /dev/null
    exit 0
    ;;
  kill)
    running && as_postgres "$PG_BIN/pg_ctl" -D "$(data_root)/data" -m immediate -w stop > /dev/null
    exit 0
    ;;
  destroy)
    root=$(data_root)
    if running; then
      as_postgres "$PG_BIN/pg_ctl" -D "$root/data" -m immediate -w stop > /dev/null || true
    fi
    [[ -n $root && $root == */orb-pg-test.* ]] && rm -rf "$root"
    rm -f "$dir/datadir" "$dir/port" "$dir/url" "$dir/postgres.log" "$dir/initdb.log"
    rmdir "$dir" 2>/dev/null || true
    ;;
  standby)
    if running; then
      exit 0
    fi
    proot=$(data_root "$primary_dir")
    pport=$(cat "$primary_dir/port" 2>/dev/null || true)
    if [[ -z $proot || -z $pport ]]; then
      echo "pg-test-cluster: no cluster in $primary_dir to stand by" >&2
      exit 1
    fi
    root=$(new_data_root)
    rm -f "$dir/port"
    # A copy of the primary with standby.signal and primary_conninfo (-R); its WAL streamed
    # meanwhile (-X stream). The walreceiver names itself by cluster_name.
    run_logged pg_basebackup "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U orb \
      -D "$root/data" -R -X stream -c fast
    as_postgres tee -a "$root/data/postgresql.conf" > /dev/null <<EOF
# scripts/pg-test-cluster.sh standby
unix_socket_directories = '$root/sock'
cluster_name = 'orb_standby'
EOF
    start_cluster
    psql -qX -v ON_ERROR_STOP=1 "postgresql://orb@127.0.0.1:$pport/postgres" \
      -c "ALTER SYSTEM SET synchronous_standby_names = 'orb_standby'" \
      -c "SELECT pg_reload_conf()" > /dev/null
    # Waits for the condition (the primary reports the standby synchronous), with a deadline;
    # the sleep is only the interval between two looks.
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
      state=$(psql -qtAX "postgresql://orb@127.0.0.1:$pport/postgres" \
        -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'orb_standby'")
      [[ $state == sync ]] && exit 0
      sleep 0.1
    done
    echo "pg-test-cluster: the standby did not become synchronous within 60 s" >&2
    exit 1
    ;;
  promote)
    as_postgres "$PG_BIN/pg_ctl" -D "$(data_root)/data" -w -t 60 promote > /dev/null
    ;;
  *) usage ;;
esac
