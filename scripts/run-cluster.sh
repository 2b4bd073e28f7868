#!/usr/bin/env bash
# Runs orb-jobs on this machine as a cluster: a throwaway PostgreSQL (scripts/pg-test-cluster.sh:
# a temporary directory, a free port, as the postgres user when run as root), three fleet-cmdr
# replicas on its one database (docs/decisions/0016), nginx in front of them with the shipped
# packaging/nginx/fleet-cmdr.conf (its upstreams, listen address and TLS lines rewritten for
# 127.0.0.1 and plain HTTP), and two local agents: local-1 talks to nginx, local-2 lists the
# replicas itself and fails over between them (decision 0004). Then the demo of scripts/run.sh on
# both agents (upload the sample server, INSTALL_SERVER, START_INSTANCE demo-1 / demo-2), and the
# UI's address (nginx's). Ctrl-C stops everything: the instances (STOP_INSTANCE), the agents, nginx,
# the replicas, then PostgreSQL, whose files are removed; nothing keeps running.
# Every run starts from an empty database and an empty demo dir.
# Environment: ORB_LISTEN (nginx; default 127.0.0.1:8080), ORB_DEMO_DIR (default
# .orb-cluster-demo), ORB_BIN_DIR (use these fleet-cmdr/orb-jobs-agent/fleetctl binaries instead
# of building), ORB_NGINX (default /usr/sbin/nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/demo/api.sh  # api, enqueue, wait_job, upload_sample
scripts/install-deps.sh
bin=${ORB_BIN_DIR:-}
if [[ -z "$bin" ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target fleet-cmdr orb-jobs-agent fleetctl
  bin=build/release/src/main
fi
bin=$(realpath "$bin")
nginx_bin=${ORB_NGINX:-/usr/sbin/nginx}

listen=${ORB_LISTEN:-127.0.0.1:8080}
demo=$(realpath -m "${ORB_DEMO_DIR:-$PWD/.orb-cluster-demo}")
url="http://$listen"
rm -rf "$demo"
mkdir -p "$demo/nginx" "$demo/agent-1" "$demo/agent-2"

pids=()
pg_started=""
instances=()
stop_all() {
  trap '' INT TERM
  # The instances outlive their agents by design (job-types.md §2); the demo stops them first.
  for entry in "${instances[@]}"; do
    echo "stopping instance ${entry#*:} ..."
    if job=$(enqueue "${entry%%:*}" STOP_INSTANCE instance "${entry#*:}" '{}' ""); then
      wait_job "$job" 60 >/dev/null || echo "STOP_INSTANCE ${entry#*:} did not complete" >&2
    fi
  done
  # Agents, nginx, then the replicas (started in that reverse order); then PostgreSQL.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$pg_started" ]]; then
    scripts/pg-test-cluster.sh destroy "$demo/pg" || true
  fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# PostgreSQL, and the database the replicas share.
pg_started=yes
scripts/pg-test-cluster.sh start "$demo/pg"
admin_url=$(cat "$demo/pg/url")
store="${admin_url%/*}/orb"
psql -q -X -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE orb" >/dev/null

# The replicas run in sessions of their own (like the agents and nginx): Ctrl-C in a terminal
# signals the whole foreground process group, and they must still be up when stop_all asks the
# agents (through them) to stop the instances; stop_all then stops them itself.
# Each replica listens on a port the kernel picks (port 0) and says which in its log: a port chosen
# here and passed on could be taken by another program before the replica binds it.
replica_urls=()
for n in 1 2 3; do
  mkdir -p "$demo/cmdr-$n"
  setsid "$bin/fleet-cmdr" serve --listen "127.0.0.1:0" --data-dir "$demo/cmdr-$n" \
    --store "$store" --trusted-proxy 127.0.0.1 >"$demo/cmdr-$n.log" 2>&1 &
  pids+=("$!")
done
for n in 0 1 2; do
  log="$demo/cmdr-$((n + 1)).log"
  replica_urls[n]=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$log" | head -1)
    if [[ -n "$port" ]] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      replica_urls[n]="http://127.0.0.1:$port"
      break
    fi
    if ! kill -0 "${pids[$n]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [[ -z "${replica_urls[$n]}" ]]; then
    echo "fleet-cmdr replica $((n + 1)) did not start; its log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
done
# Of replicas starting together on an empty database, one created the first admin token.
admin_token=$(cat "$demo"/cmdr-*/admin.token 2>/dev/null | head -1)
if [[ -z "$admin_token" ]]; then echo "no replica wrote admin.token" >&2; exit 1; fi
(umask 077; printf '%s\n' "$admin_token" > "$demo/admin.token")

# nginx: the shipped site file, with the three replicas as upstreams and plain HTTP on $listen.
servers=""
for replica in "${replica_urls[@]}"; do
  servers+="    server ${replica#http://} max_fails=1 fail_timeout=10s;\n"
done
awk -v servers="$servers" -v listen="$listen" '
  /^ *server [0-9.]+:[0-9]+ / { if (!done_servers) { printf "%s", servers; done_servers = 1 } next }
  /^ *listen .* ssl;/ { if (!done_listen) { print "    listen " listen ";"; done_listen = 1 } next }
  /^ *ssl_/ { next }
  { print }
' packaging/nginx/fleet-cmdr.conf >"$demo/nginx/fleet-cmdr.conf"
# As root the workers would run as www-data, which may not write the demo dir.
user=""
[[ $(id -u) -eq 0 ]] && user="user root;"
cat >"$demo/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
pid $demo/nginx/nginx.pid;
events { worker_connections 512; }
http {
  access_log $demo/nginx/access.log;
  client_body_temp_path $demo/nginx/client_body;
  proxy_temp_path $demo/nginx/proxy;
  fastcgi_temp_path $demo/nginx/fastcgi;
  uwsgi_temp_path $demo/nginx/uwsgi;
  scgi_temp_path $demo/nginx/scgi;
  include $demo/nginx/fleet-cmdr.conf;
}
EOF
if [[ ! -x $nginx_bin ]]; then echo "no $nginx_bin (scripts/install-deps.sh installs nginx)" >&2; exit 1; fi
setsid "$nginx_bin" -p "$demo/nginx/" -c "$demo/nginx/nginx.conf" -e "$demo/nginx/error.log" \
  -g 'daemon off;' >"$demo/nginx/nginx.out" 2>&1 &
nginx=$!
pids+=("$nginx")
for _ in $(seq 1 100); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$nginx" 2>/dev/null; then
    echo "nginx did not start:" >&2
    cat "$demo/nginx/nginx.out" "$demo/nginx/error.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done

# Two agents, enrolled through nginx; local-1 is given nginx's address, local-2 the replicas'.
for n in 1 2; do
  agent_id=local-$n
  reply=$(api POST /v1/agents "{\"agentId\":\"$agent_id\",\"labels\":{\"demo\":\"true\"}}")
  token=$(json_field token <<<"$reply")
  if [[ -z "$token" ]]; then echo "cannot enroll agent $agent_id: $reply" >&2; exit 1; fi
  (umask 077; printf '%s\n' "$token" > "$demo/agent-$n/token")
  # A token created through one replica reaches the others within 250 ms (decision 0016); an agent
  # refused in between would wait 30 s before its next hello. Any answer but 401 means known.
  for replica in "${replica_urls[@]}"; do
    for _ in $(seq 1 50); do
      code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "$replica/v1/agents/$agent_id/notify?wait=0" || true)
      [[ $code != 401 ]] && break
      sleep 0.1
    done
  done
  server_flags=(--server "$url")
  if [[ $n -eq 2 ]]; then
    server_flags=()
    for replica in "${replica_urls[@]}"; do server_flags+=(--server "$replica"); done
  fi
  setsid "$bin/orb-jobs-agent" "${server_flags[@]}" --agent-id "$agent_id" \
    --token-file "$demo/agent-$n/token" --root "$demo/agent-$n/root" \
    --state-dir "$demo/agent-$n/state" >"$demo/agent-$n.log" 2>&1 &
  pids+=("$!")
done

# The sample game server, uploaded through nginx, installed on both agents and started on each.
upload_sample "$demo"
for n in 1 2; do
  agent_id=local-$n
  install=$(enqueue "$agent_id" INSTALL_SERVER server sample "$(install_payload)" \
    "demo-install-$agent_id-$sample_version-${sample_sha:0:16}")
  echo "INSTALL_SERVER sample $sample_version on $agent_id: job $install"
  if status=$(wait_job "$install" 120); then
    start=$(enqueue "$agent_id" START_INSTANCE instance "demo-$n" "$START_PAYLOAD" "")
    instances+=("$agent_id:demo-$n")
    echo "START_INSTANCE demo-$n on $agent_id: job $start"
    start_status=$(wait_job "$start" 60) || true
    echo "START_INSTANCE demo-$n: $start_status"
  else
    echo "INSTALL_SERVER on $agent_id ended $status; see $url/#/jobs/$install" >&2
  fi
done

echo
echo "orb-jobs is running as a cluster."
echo "  UI:          $url/ (nginx, in front of the replicas)"
echo "  replicas:    ${replica_urls[*]} (logs $demo/cmdr-*.log)"
echo "  PostgreSQL:  $store"
echo "  admin token: $demo/admin.token"
echo "  agents:      local-1 (through nginx), local-2 (the replicas' list); roots $demo/agent-*/root"
echo "  fleetctl:    $bin/fleetctl --server $url --token-file $demo/admin.token jobs"
echo "  stop:        Ctrl-C"
wait "$nginx"
