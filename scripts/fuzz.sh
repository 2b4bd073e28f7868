#!/usr/bin/env bash
# Fuzzes every target of tests/fuzz with libFuzzer (clang, ASan + UBSan: the `fuzz` preset) for
# SECONDS each (default 60), starting from its seed corpus in tests/fuzz/corpus/<name>/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 archive json_codecs
# New interesting inputs go to build/fuzz/findings/<name>/corpus (the repository's corpus is only
# read); an input that crashes a target is saved as build/fuzz/findings/<name>/crash-* and the
# script exits non-zero. Keep every crashing input: copy it into tests/fuzz/corpus/<name>/ with the
# fix, so the ctest fuzz.<name> (dev and asan) replays it for ever. MERGE=1 merges the new inputs
# into the repository's corpus (minimized with -merge=1) after the run.
# Prints each target's executions and findings; docs/reliability.md records the totals.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
scripts/install-deps.sh --fuzz || exit 1
cmake --preset fuzz >/dev/null || exit 1
cmake --build --preset fuzz || exit 1
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^  \([a-z_]*\):orb_[a-z]*)\{0,1\}$/\1/p' tests/fuzz/CMakeLists.txt)
fi
status=0
total_execs=0
printf '%-14s %12s %10s %s\n' target executions "exec/s" findings
for name in "${targets[@]}"; do
  bin="build/fuzz/tests/fuzz/${name}_fuzz"
  out="build/fuzz/findings/${name}"
  mkdir -p "${out}/corpus"
  dict=()
  [[ -f "tests/fuzz/${name}.dict" ]] && dict=(-dict="tests/fuzz/${name}.dict")
  log="${out}/fuzz.log"
  "${bin}" "${out}/corpus" "tests/fuzz/corpus/${name}" "${dict[@]}" -max_total_time="${seconds}" \
    -print_final_stats=1 -artifact_prefix="${out}/" -timeout=30 -rss_limit_mb=2048 >"${log}" 2>&1
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -1)"
  crashes="$(find "${out}" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' | wc -l)"
  total_execs=$((total_execs + ${execs:-0}))
  printf '%-14s %12s %10s %s\n' "${name}" "${execs:-?}" "${rate:-?}" \
    "$([[ ${rc} -eq 0 ]] && echo none || echo "EXIT ${rc}, ${crashes} input(s) in ${out}, see ${log}")"
  if ((rc != 0)); then status=1; fi
  if [[ "${MERGE:-0}" == 1 ]]; then
    "${bin}" -merge=1 "tests/fuzz/corpus/${name}" "${out}/corpus" >/dev/null 2>&1
  fi
done
echo "total executions: ${total_execs}"
exit ${status}
