#!/usr/bin/env bash
# Writes the README's screenshots (docs/screenshots/fleet.png, host.png, rollout.png) from the set-up
# of the browser tests: a real fleet-cmdr, real agents, Debian's chromium (tests/browser/
# screenshots.mjs). Uses the dev preset's binaries; build them first:
#   cmake --preset dev && cmake --build --preset dev --target fleet-cmdr orb-jobs-agent orb-jobs-agent-testbed
# and tests/browser's playwright-core (cd tests/browser && npm ci). The programs' logs go to a
# temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ORB_BUILD_DIR:-build/dev}"
export FLEET_CMDR_BIN="${build}/src/main/fleet-cmdr"
export ORB_AGENT_BIN="${build}/src/main/orb-jobs-agent"
export ORB_AGENT_TESTBED_BIN="${build}/tests/integration/agent/orb-jobs-agent-testbed"
for bin in "${FLEET_CMDR_BIN}" "${ORB_AGENT_BIN}" "${ORB_AGENT_TESTBED_BIN}"; do
  if [[ ! -x "${bin}" ]]; then
    echo "screenshots.sh: ${bin} is missing: build the dev preset's fleet-cmdr, orb-jobs-agent and orb-jobs-agent-testbed" >&2
    exit 1
  fi
done
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  echo "screenshots.sh: playwright-core is missing: cd tests/browser && npm ci" >&2
  exit 1
fi
logs="$(mktemp -d)"
trap 'rm -rf "${logs}"' EXIT
ORB_ARTIFACTS_DIR="${logs}" node tests/browser/screenshots.mjs "${PWD}/docs/screenshots"
