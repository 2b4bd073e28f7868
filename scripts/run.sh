#!/usr/bin/env bash
# Runs orb-jobs on this machine: builds the release preset if needed, starts fleet-cmdr on its embedded
# SQLite store (data in .orb-demo/), and prints the UI's address. Ctrl-C stops everything.
# Environment: ORB_LISTEN (default 127.0.0.1:8080), ORB_DEMO_DIR (default .orb-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target fleet-cmdr

listen=${ORB_LISTEN:-127.0.0.1:8080}
demo=${ORB_DEMO_DIR:-$PWD/.orb-demo}
mkdir -p "$demo/cmdr"
bin=build/release/src/main

"$bin/fleet-cmdr" serve --listen "$listen" --data-dir "$demo/cmdr" &
cmdr=$!
trap 'kill -TERM $cmdr 2>/dev/null; wait $cmdr 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -fsS "http://$listen/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 $cmdr 2>/dev/null; then echo "fleet-cmdr did not start" >&2; exit 1; fi
  sleep 0.1
done
echo
echo "orb-jobs is running."
echo "  UI:          http://$listen/"
echo "  admin token: $demo/cmdr/admin.token"
echo "  stop:        Ctrl-C"
wait $cmdr
