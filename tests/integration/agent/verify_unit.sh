#!/usr/bin/env bash
# `systemd-analyze verify` on packaging/orb-jobs-agent.service, with ExecStart pointed at the
# built binary (verify insists that it exists). Skipped (77) when systemd-analyze is missing.
# Usage: verify_unit.sh UNIT_FILE AGENT_BINARY
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=/usr/bin/orb-jobs-agent|ExecStart=$2|" "$1" > "$dir/orb-jobs-agent.service"
grep -q "^ExecStart=$2" "$dir/orb-jobs-agent.service"
# --man=no: Documentation= names the man page the package installs (tests/integration/packaging
# checks it there), not on this host.
out=$(systemd-analyze verify --man=no "$dir/orb-jobs-agent.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings: treat any line about our unit as a failure.
if grep -q "orb-jobs-agent.service" <<<"$out"; then echo "$out"; exit 1; fi
echo "unit ok"
