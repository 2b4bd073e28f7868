#!/usr/bin/env bash
# Runs orb-jobs on this machine: builds the release preset if needed, starts fleet-cmdr on its embedded
# SQLite store and one local orb-jobs-agent (enrolled on first run, root and state in the demo dir),
# uploads the sample game server (scripts/demo/sample-server), installs it with INSTALL_SERVER and
# starts an instance of it with START_INSTANCE, and prints the UI's address. Ctrl-C stops
# everything: the instance (STOP_INSTANCE), then the agent (it drains and reports), then fleet-cmdr.
# Environment: ORB_LISTEN (default 127.0.0.1:8080), ORB_DEMO_DIR (default .orb-demo),
# ORB_BIN_DIR (use these fleet-cmdr/orb-jobs-agent/fleetctl binaries instead of building).
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

listen=${ORB_LISTEN:-127.0.0.1:8080}
demo=${ORB_DEMO_DIR:-$PWD/.orb-demo}
url="http://$listen"
mkdir -p "$demo/cmdr" "$demo/agent"

pids=()
instance_started=""
stop_all() {
  # The instance outlives the agent by design (job-types.md §2); the demo stops it on the way out.
  if [[ -n "$instance_started" ]]; then
    echo "stopping instance demo-1 ..."
    if job=$(enqueue "$agent_id" STOP_INSTANCE instance demo-1 '{}' ""); then
      wait_job "$job" 60 >/dev/null || echo "STOP_INSTANCE did not complete" >&2
    fi
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# fleet-cmdr and the agent run in sessions of their own: Ctrl-C in a terminal signals the whole
# foreground process group, and they must still be up when stop_all asks the agent (through
# fleet-cmdr) to stop the instance; stop_all then stops them itself.
setsid "$bin/fleet-cmdr" serve --listen "$listen" --data-dir "$demo/cmdr" &
cmdr=$!
pids+=("$cmdr")
for _ in $(seq 1 100); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$cmdr" 2>/dev/null; then echo "fleet-cmdr did not start" >&2; exit 1; fi
  sleep 0.1
done

# One local agent, enrolled once; its token is kept (0600) beside its state.
admin_token=${FLEET_CMDR_ADMIN_TOKEN:-$(cat "$demo/cmdr/admin.token")}
agent_id=${ORB_AGENT_ID:-local-1}
if [[ ! -s "$demo/agent/token" ]]; then
  reply=$(curl -sS -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "{\"agentId\":\"$agent_id\",\"labels\":{\"demo\":\"true\"}}" "$url/v1/agents")
  token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$reply")
  if [[ -z "$token" ]]; then echo "cannot enroll agent $agent_id: $reply" >&2; exit 1; fi
  (umask 077; printf '%s\n' "$token" > "$demo/agent/token")
fi
setsid "$bin/orb-jobs-agent" --server "$url" --agent-id "$agent_id" --token-file "$demo/agent/token" \
  --root "$demo/agent/root" --state-dir "$demo/agent/state" &
pids+=("$!")

# The sample game server, uploaded, installed and started.
upload_sample "$demo"
install=$(enqueue "$agent_id" INSTALL_SERVER server sample "$(install_payload)" \
  "demo-install-$sample_version-${sample_sha:0:16}")
echo "INSTALL_SERVER sample $sample_version: job $install"
if status=$(wait_job "$install" 120); then
  start=$(enqueue "$agent_id" START_INSTANCE instance demo-1 "$START_PAYLOAD" "")
  instance_started=yes
  echo "START_INSTANCE demo-1: job $start"
  start_status=$(wait_job "$start" 60) || true
  echo "START_INSTANCE demo-1: $start_status"
else
  echo "INSTALL_SERVER ended $status; see $url/#/jobs/$install" >&2
fi

echo
echo "orb-jobs is running."
echo "  UI:          $url/"
if [ -n "${FLEET_CMDR_ADMIN_TOKEN:-}" ]; then
  # fleet-cmdr took the token from the environment and wrote no file.
  token_where="\$FLEET_CMDR_ADMIN_TOKEN"
  fleetctl="FLEET_TOKEN=\$FLEET_CMDR_ADMIN_TOKEN $bin/fleetctl --server $url jobs"
else
  token_where="$demo/cmdr/admin.token"
  fleetctl="$bin/fleetctl --server $url --token-file $demo/cmdr/admin.token jobs"
fi
echo "  admin token: $token_where"
echo "  agent:       $agent_id (root $demo/agent/root)"
echo "  fleetctl:    $fleetctl"
echo "  stop:        Ctrl-C"
wait "$cmdr"
