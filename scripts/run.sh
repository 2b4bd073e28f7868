#!/usr/bin/env bash
# Runs orb-jobs on this machine: builds the release preset if needed, starts fleet-cmdr on its embedded
# SQLite store and one local orb-jobs-agent (enrolled on first run, root and state in the demo dir),
# and prints the UI's address. Ctrl-C stops everything (the agent first, so it drains and reports).
# Environment: ORB_LISTEN (default 127.0.0.1:8080), ORB_DEMO_DIR (default .orb-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target fleet-cmdr orb-jobs-agent

listen=${ORB_LISTEN:-127.0.0.1:8080}
demo=${ORB_DEMO_DIR:-$PWD/.orb-demo}
url="http://$listen"
mkdir -p "$demo/cmdr" "$demo/agent"
bin=build/release/src/main

pids=()
stop_all() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

"$bin/fleet-cmdr" serve --listen "$listen" --data-dir "$demo/cmdr" &
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
"$bin/orb-jobs-agent" --server "$url" --agent-id "$agent_id" --token-file "$demo/agent/token" \
  --root "$demo/agent/root" --state-dir "$demo/agent/state" &
pids+=("$!")

echo
echo "orb-jobs is running."
echo "  UI:          $url/"
echo "  admin token: $demo/cmdr/admin.token"
echo "  agent:       $agent_id (root $demo/agent/root)"
echo "  stop:        Ctrl-C"
wait "$cmdr"
