#!/usr/bin/env bash
# Runs every test of orb-jobs: installs what is missing, then builds and runs the whole suite twice,
# in the `dev` preset and in the `asan` preset (ASan + UBSan). Exits non-zero if anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --browser || exit 1
# playwright-core for the browser tests, exactly as package-lock.json pins it (it uses Debian's
# chromium; it never downloads a browser).
if ! (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error); then
  echo "test.sh: npm ci in tests/browser failed" >&2
  exit 1
fi

status=0
for preset in dev asan; do
  echo "=== preset ${preset} ==="
  if ! cmake --preset "${preset}" >/dev/null; then status=1; continue; fi
  if ! cmake --build --preset "${preset}"; then status=1; continue; fi
  ctest --preset "${preset}" || status=1
done
exit ${status}
