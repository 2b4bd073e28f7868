#!/usr/bin/env bash
# Installs every build and test dependency of orb-jobs from Debian 12's packages.
# Idempotent: packages already installed are skipped, and apt-get runs only when something is missing.
# Usage: scripts/install-deps.sh [--browser] [--fuzz] [--packaging]
#   --browser    adds chromium + node for the UI tests
#   --fuzz       adds clang and libFuzzer for scripts/fuzz.sh
#   --packaging  adds lintian, which scripts/package.sh runs on a release (the ctest package.debs
#                does not: it needs only dpkg-dev, help2man, systemd and zsh, always installed)
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libpq-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libexpected-dev
  libarchive-dev libzstd-dev libssl-dev libsystemd-dev libacl1-dev
  libhowardhinnant-date-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql sqlite3 zstd tar curl systemd zip
  ccache lld clang-format
  nginx
  dpkg-dev help2man zsh
  python3 python3-jsonschema python3-yaml
)
for option in "$@"; do
  case "${option}" in
    --browser) packages+=(chromium nodejs npm) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --packaging) packages+=(lintian) ;;
    *) echo "install-deps: unknown option ${option}" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # nodejs from another source may already provide npm.
    if [[ "$p" == npm ]] && command -v npm >/dev/null; then continue; fi
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Debian's nginx package starts a system nginx on port 80 when it is installed, and its postgresql
# package a system cluster on port 5432. The tests start their own nginx (packaging/nginx,
# tests/integration/nginx) and their own PostgreSQL cluster (scripts/pg-test-cluster.sh), so no
# service may be started by this install: a policy-rc.d that answers 101 ("action forbidden") makes invoke-rc.d and
# deb-systemd-invoke skip every start. One that is already there (container images ship one) is
# left as it is.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# install-deps.sh: start no service while packages are installed\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
  made_policy=1
fi
cleanup() { if ((made_policy)); then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# ... and none at the next boot either, for the nginx and postgresql this run installed (one that
# was there before is the machine owner's and is left alone).
if [[ -d /run/systemd/system ]]; then
  for service in nginx postgresql; do
    if [[ " ${missing[*]} " == *" ${service} "* ]]; then
      $sudo systemctl disable "${service}.service" >/dev/null 2>&1 || true
    fi
  done
fi
