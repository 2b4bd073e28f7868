#!/usr/bin/env bash
# agent_idle.sh: orb-jobs-agent's resident memory and CPU while idle (issue 4's benchmark).
# Starts the release fleet-cmdr and the shipped orb-jobs-agent on 127.0.0.1 with temporary dirs,
# lets the agent long-poll for DURATION seconds (default 60) after a 5 s warm-up, and prints
# VmRSS, VmHWM and the CPU share (utime+stime over wall time) from /proc/<pid>.
#   cmake --preset release && cmake --build --preset release && bench/agent/agent_idle.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-60}"
bin="${BIN:-build/release/src/main}"
[[ -x "${bin}/fleet-cmdr" && -x "${bin}/orb-jobs-agent" ]] || {
  echo "build the release preset first" >&2; exit 2; }

work="$(mktemp -d /tmp/orb-agent-idle-XXXXXX)"
cleanup() { kill "${agent_pid:-}" "${cmdr_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${work}"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export FLEET_CMDR_ADMIN_TOKEN="bench-admin-token-0123456789abcdef0123456789"
"${bin}/fleet-cmdr" serve --listen "127.0.0.1:${port}" --data-dir "${work}/cmdr" --log-level warn &
cmdr_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:${port}/healthz" >/dev/null && break; sleep 0.1; done
token="$(curl -fs -H "Authorization: Bearer ${FLEET_CMDR_ADMIN_TOKEN}" -H 'Content-Type: application/json' \
  -d '{"agentId":"idle-1"}' "http://127.0.0.1:${port}/v1/agents" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
echo "${token}" > "${work}/token"
"${bin}/orb-jobs-agent" --server "http://127.0.0.1:${port}" --agent-id idle-1 \
  --token-file "${work}/token" --root "${work}/root" --state-dir "${work}/state" --log-level warn &
agent_pid=$!
sleep 5  # warm-up: hello, first jobs/next, first long-poll

ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/${agent_pid}/stat"; }
cpu0="$(cpu)"; t0="$(date +%s.%N)"
sleep "${duration}"
cpu1="$(cpu)"; t1="$(date +%s.%N)"
rss="$(awk '/VmRSS/ {print $2}' "/proc/${agent_pid}/status")"
hwm="$(awk '/VmHWM/ {print $2}' "/proc/${agent_pid}/status")"
threads="$(awk '/Threads/ {print $2}' "/proc/${agent_pid}/status")"
python3 - "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$threads" "$duration" <<'PY'
import sys
cpu0, cpu1, t0, t1, ticks, rss, hwm, threads, duration = sys.argv[1:]
share = (float(cpu1) - float(cpu0)) / float(ticks) / (float(t1) - float(t0)) * 100
print(f"| agent idle, long-polling, {duration} s | VmRSS {int(rss)/1024:.1f} MiB | "
      f"VmHWM {int(hwm)/1024:.1f} MiB | CPU {share:.3f} % of a core | {threads} threads |")
PY
