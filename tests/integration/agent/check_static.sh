#!/usr/bin/env bash
# The shipped orb-jobs-agent (ORB_STATIC_AGENT) loads no shared library but glibc's: every other
# one would cost its load (0.3-1.4 MiB each) against the agent's idle memory
# target of 8 MB (docs/benchmarks.md).
# libsystemd is dlopen()ed on first use (cmake/deps/systemd_on_demand.cpp), so it is not NEEDED.
# Usage: check_static.sh AGENT_BINARY
set -euo pipefail
agent=$1
needed=$(readelf -d "$agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "NEEDED: $needed"
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | ld-linux-x86-64.so.2) ;;
    *) echo "orb-jobs-agent needs $lib: link it statically (cmake/OrbDependencies.cmake)"; exit 1 ;;
  esac
done
"$agent" --version
