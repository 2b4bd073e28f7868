#!/usr/bin/env bash
# install_bench.sh: INSTALL_SERVER of a large tar.zst artifact from fleet-cmdr's artifact store,
# side by side with `curl -o` + `sha256sum` + `tar --zstd -xf` of the same file (docs/benchmarks.md,
# "Installs"; target: the agent within 1.1x of the tools).
# Starts fleet-cmdr and orb-jobs-agent on 127.0.0.1 with temporary dirs, uploads the artifact
# (PUT /v1/artifacts), enqueues INSTALL_SERVER and times create -> COMPLETED (polled every 20 ms),
# then times the three tools on the same URL. Each side runs RUNS times (default 3), a fresh
# root and an empty cache each time; the page cache is warm for both (the artifact was just made).
#   cmake --preset release && cmake --build --preset release && bench/install/install_bench.sh [MB] [RUNS]
# BIN=<dir with fleet-cmdr and orb-jobs-agent> overrides build/release/src/main.
set -euo pipefail
cd "$(dirname "$0")/../.."
mb="${1:-500}"
runs="${2:-3}"
bin="${BIN:-build/release/src/main}"
[[ -x "${bin}/fleet-cmdr" && -x "${bin}/orb-jobs-agent" ]] || {
  echo "build the release preset first (or set BIN)" >&2; exit 2; }

work="$(mktemp -d /tmp/orb-install-bench-XXXXXX)"
cleanup() { kill "${agent_pid:-}" "${cmdr_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${work}"; }
trap cleanup EXIT

# A build tree like a game server's: a few large incompressible files and many small text ones.
tree="${work}/tree"
mkdir -p "${tree}/bin" "${tree}/lib" "${tree}/config"
printf '#!/bin/sh\necho "Done (bench)"\nwhile read -r l; do [ "$l" = stop ] && exit 0; done\n' > "${tree}/bin/start.sh"
chmod 755 "${tree}/bin/start.sh"
big=$(( mb * 9 / 10 / 8 ))
for i in $(seq 8); do head -c "${big}M" /dev/urandom > "${tree}/lib/part-${i}.jar"; done
for i in $(seq 2000); do
  printf 'key%s=%s\n' $(seq 1 "$(( (mb * 1024 / 10 / 2000) + 1 ))") > "${tree}/config/file-${i}.properties"
done
artifact="${work}/server.tar.zst"
tar -C "${tree}" --zstd -cf "${artifact}" .
size=$(stat -c %s "${artifact}")
sha=$(sha256sum "${artifact}" | cut -d' ' -f1)
rm -rf "${tree}"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"
export FLEET_CMDR_ADMIN_TOKEN="bench-admin-token-0123456789abcdef0123456789"
auth=(-H "Authorization: Bearer ${FLEET_CMDR_ADMIN_TOKEN}")
"${bin}/fleet-cmdr" serve --listen "127.0.0.1:${port}" --data-dir "${work}/cmdr" --log-level warn &
cmdr_pid=$!
for _ in $(seq 100); do curl -fs "${base}/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "${auth[@]}" -X PUT --data-binary "@${artifact}" -H 'Content-Type: application/octet-stream' \
  "${base}/v1/artifacts" >/dev/null
token="$(curl -fs "${auth[@]}" -H 'Content-Type: application/json' -d '{"agentId":"bench-1"}' \
  "${base}/v1/agents" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
echo "${token}" > "${work}/agent.token"
"${bin}/orb-jobs-agent" --server "${base}" --agent-id bench-1 --token-file "${work}/agent.token" \
  --root "${work}/root" --state-dir "${work}/state" --log-level warn &
agent_pid=$!
sleep 2  # hello and the first long-poll

now() { date +%s.%N; }
agent_times=()
for run in $(seq "${runs}"); do
  rm -rf "${work}/root/servers" "${work}/root/cache"
  sync  # every side starts with nothing dirty: the agent's syncfs would flush it
  payload="{\"buildId\":\"b${run}\",\"artifact\":{\"url\":\"${base}/v1/artifacts/${sha}\",\"sha256\":\"${sha}\",\"size\":${size},\"format\":\"tar.zst\"}}"
  t0=$(now)
  job=$(curl -fs "${auth[@]}" -H 'Content-Type: application/json' \
    -d "{\"agentId\":\"bench-1\",\"type\":\"INSTALL_SERVER\",\"serverId\":\"s1\",\"payload\":${payload}}" \
    "${base}/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    status=$(curl -fs "${auth[@]}" "${base}/v1/jobs/${job}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [[ "${status}" == COMPLETED ]] && break
    [[ "${status}" == FAILED || "${status}" == CANCELLED ]] && { echo "job ${status}" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(now)
  agent_times+=("$(python3 -c "print(${t1} - ${t0})")")
done

# The tools twice per round: as they are, and ending with `sync -f` (syncfs) so that, like the
# agent's build before it reports COMPLETED, their files are on disk.
tool_times=()
synced_times=()
for run in $(seq "${runs}"); do
  for mode in plain synced; do
    out="${work}/tools-${run}-${mode}"
    mkdir -p "${out}/build"
    sync
    t0=$(now)
    curl -fs -H "Authorization: Bearer ${token}" -o "${out}/a.tar.zst" "${base}/v1/artifacts/${sha}"
    echo "${sha}  ${out}/a.tar.zst" | sha256sum -c --quiet
    tar --zstd -xf "${out}/a.tar.zst" -C "${out}/build"
    [[ "${mode}" == synced ]] && sync -f "${out}/build"
    t1=$(now)
    if [[ "${mode}" == synced ]]; then
      synced_times+=("$(python3 -c "print(${t1} - ${t0})")")
    else
      tool_times+=("$(python3 -c "print(${t1} - ${t0})")")
    fi
    rm -rf "${out}"
  done
done

python3 - "${mb}" "${size}" "${agent_times[*]}" "${tool_times[*]}" "${synced_times[*]}" <<'PY'
import statistics, sys
mb, size, agent, tools, synced = sys.argv[1:]
agent = [float(x) for x in agent.split()]
tools = [float(x) for x in tools.split()]
synced = [float(x) for x in synced.split()]
a, t, s = statistics.median(agent), statistics.median(tools), statistics.median(synced)
runs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
print(f"| INSTALL_SERVER, {int(size)/2**20:.0f} MiB tar.zst ({mb} MB asked) | agent {a:.2f} s "
      f"(runs {runs(agent)}) | curl+sha256sum+tar {t:.2f} s (runs {runs(tools)}) | "
      f"ratio {a/t:.2f}x |")
print(f"| the same, the tools ending with sync -f | agent {a:.2f} s | curl+sha256sum+tar+sync "
      f"{s:.2f} s (runs {runs(synced)}) | ratio {a/s:.2f}x |")
PY
