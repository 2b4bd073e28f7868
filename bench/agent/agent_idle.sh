#!/usr/bin/env bash
# agent_idle.sh: orb-jobs-agent's resident memory and CPU while idle (docs/benchmarks.md).
# Starts the release fleet-cmdr and the shipped orb-jobs-agent on 127.0.0.1 with temporary dirs,
# lets the agent long-poll for DURATION seconds (default 60) after a 5 s warm-up, and prints
# VmRSS, VmHWM and the CPU share (utime+stime over wall time) from /proc/<pid>.
# TLS=1 runs it over https: a fresh self-signed P-256 certificate for 127.0.0.1/localhost,
# fleet-cmdr with --tls-cert/--tls-key, the agent with --ca-file (verification stays on).
# KEEP_SMAPS=FILE copies the agent's /proc/<pid>/smaps there at the end.
# HEARTBEAT=N has fleet-cmdr tell the agent to beat every N seconds (default 15): the agent checks
# its host's inventory that often, idle or not (docs/decisions/0024); 1 is the busiest idle agent.
#   cmake --preset release && cmake --build --preset release && bench/agent/agent_idle.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-60}"
bin="${BIN:-build/release/src/main}"
[[ -x "${bin}/fleet-cmdr" && -x "${bin}/orb-jobs-agent" ]] || {
  echo "build the release preset first" >&2; exit 2; }
# Is the idle agent's hot-code list (src/main/orb-jobs-agent-hot.ld) applied and current? A stale
# list only costs memory, so this reports and goes on.
if [[ -f "${bin}/orb-jobs-agent.map" ]]; then
  bench/agent/check_hot_text.py src/main/orb-jobs-agent-hot.ld "${bin}/orb-jobs-agent.map" \
    "${BUILD_TYPE:-Release}" || echo "agent_idle: the figures below are for a stale hot-code list"
fi

work="$(mktemp -d /tmp/orb-agent-idle-XXXXXX)"
cleanup() { kill "${agent_pid:-}" "${cmdr_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${work}"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export FLEET_CMDR_ADMIN_TOKEN="bench-admin-token-0123456789abcdef0123456789"
scheme=http; tls_flags=(); ca_flags=(); curl_ca=()
if [[ "${TLS:-0}" == 1 ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "${work}/key.pem" -out "${work}/cert.pem" 2>/dev/null
  scheme=https
  tls_flags=(--tls-cert "${work}/cert.pem" --tls-key "${work}/key.pem")
  ca_flags=(--ca-file "${work}/cert.pem")
  curl_ca=(--cacert "${work}/cert.pem")
fi
"${bin}/fleet-cmdr" serve --listen "127.0.0.1:${port}" --data-dir "${work}/cmdr" --log-level warn \
  --heartbeat-seconds "${HEARTBEAT:-15}" "${tls_flags[@]}" &
cmdr_pid=$!
for _ in $(seq 100); do
  curl -fs "${curl_ca[@]}" "${scheme}://127.0.0.1:${port}/healthz" >/dev/null && break; sleep 0.1
done
token="$(curl -fs "${curl_ca[@]}" -H "Authorization: Bearer ${FLEET_CMDR_ADMIN_TOKEN}" -H 'Content-Type: application/json' \
  -d '{"agentId":"idle-1"}' "${scheme}://127.0.0.1:${port}/v1/agents" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
echo "${token}" > "${work}/token"
"${bin}/orb-jobs-agent" --server "${scheme}://127.0.0.1:${port}" "${ca_flags[@]}" --agent-id idle-1 \
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
[[ -n "${KEEP_SMAPS:-}" ]] && cp "/proc/${agent_pid}/smaps" "${KEEP_SMAPS}"
kill -0 "${agent_pid}"  # still alive: a failed TLS set-up would have ended it
python3 - "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$threads" "$duration" "$scheme" \
  "${HEARTBEAT:-15}" <<'PY'
import sys
cpu0, cpu1, t0, t1, ticks, rss, hwm, threads, duration, scheme, heartbeat = sys.argv[1:]
share = (float(cpu1) - float(cpu0)) / float(ticks) / (float(t1) - float(t0)) * 100
print(f"| agent idle, long-polling, {scheme}, {duration} s, heartbeat {heartbeat} s | VmRSS {int(rss)/1024:.1f} MiB | "
      f"VmHWM {int(hwm)/1024:.1f} MiB | CPU {share:.3f} % of a core | {threads} threads |")
PY
