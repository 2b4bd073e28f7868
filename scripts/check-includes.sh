#!/usr/bin/env bash
# Fails when code includes what its module must not (docs/architecture.md "Rules").
# Links point down only: main -> server|agent|cli -> store|jobs -> net|protocol|os|orchestration -> common.
# Usage: scripts/check-includes.sh [SRC_DIR [TESTS_DIR]]   (run by ctest: architecture.includes_point_down)
# Checks:
#  1. every folder under src/ and tests/unit/ is a known module;
#  2. src/<module> and tests/unit/<module> include only "<module>/..." headers their module may
#     use (tests may also use "support/..." and "unit/<module>/..."); tests/support uses common and os
#     (the faulty filesystem of fault_fs.hpp);
#  3. src/<module>/CMakeLists.txt links only the orb_<module> libraries its module may use;
#  4. quoted includes are rooted at src/ (or tests/): "common/error.hpp", never "error.hpp";
#  5. Boost.JSON only in protocol; Beast/Asio only in net's .cpp files and src/net/detail/, which
#     no other module includes (net's public headers stay pimpl'd);
#     Howard Hinnant's date/tz only in src/orchestration's .cpp files (time zones stay behind
#     orchestration/time_zone.hpp);
#  6. <regex> only through "common/regex.hpp" (g++ 12's false warning inside it under sanitizers).
set -euo pipefail
src=${1:-$(dirname "$0")/../src}
tests=${2:-$src/../tests}
declare -A allowed=(
  [common]="common"
  [protocol]="common protocol"
  [os]="common os"
  [orchestration]="common orchestration"
  [net]="common net"
  [store]="common protocol orchestration store"
  [jobs]="common protocol os net jobs"
  [server]="common protocol orchestration net store server"
  [agent]="common protocol os net jobs agent"
  [cli]="common protocol net cli"
  [main]="common protocol os orchestration net store jobs server agent cli main"
)
status=0
fail() { echo "$*"; status=1; }

# Quoted includes of the given files/dirs, as "file:line:text".
quoted_includes() {
  grep -rnE --include='*.cpp' --include='*.hpp' '^\s*#\s*include\s+"' "$@" 2>/dev/null || true
}

# check_dir LABEL DIR ALLOWED_MODULES...: each quoted include in DIR must name one of the modules.
check_dir() {
  local label=$1 dir=$2; shift 2
  local allow=" $* "
  [[ -d "$dir" ]] || return 0
  while IFS=: read -r file line text; do
    [[ -n "$file" ]] || continue
    if [[ ! "$text" =~ \"([A-Za-z0-9_]+)/ ]]; then
      fail "$file:$line: include rooted at src/ (\"module/file.hpp\"): $text"
      continue
    fi
    local target=${BASH_REMATCH[1]}
    # A unit test may include the helpers beside it: "unit/<its module>/test_certs.hpp".
    if [[ "$label" == tests/unit/* && "$text" == *"\"${label#tests/}/"* ]]; then continue; fi
    if [[ "$allow" != *" $target "* ]]; then
      fail "$file:$line: $label must not include $target/: $text"
    fi
  done < <(quoted_includes "$dir")
}

# 1. Unknown modules.
shopt -s nullglob
for root in "$src" "$tests/unit"; do
  [[ -d "$root" ]] || continue
  for dir in "$root"/*/; do
    module=$(basename "$dir")
    [[ -v "allowed[$module]" ]] ||
      fail "$root/$module: not a module of docs/architecture.md (add it there and to this script)"
  done
done

# 2 and 4. Module includes, for sources and their unit tests.
for module in $(printf '%s\n' "${!allowed[@]}" | sort); do
  check_dir "src/$module" "$src/$module" "${allowed[$module]}"
  check_dir "tests/unit/$module" "$tests/unit/$module" "${allowed[$module]}" support
done
check_dir "tests/support" "$tests/support" common os support

# 3. The same rule for links: src/<module>/CMakeLists.txt names only orb_<module> libraries it may use.
for module in $(printf '%s\n' "${!allowed[@]}" | sort); do
  cmake_file="$src/$module/CMakeLists.txt"
  [[ -f "$cmake_file" ]] || continue
  while read -r lib; do
    target=${lib#orb_}
    [[ -v "allowed[$target]" ]] || continue  # orb_library, orb_warnings, ...
    [[ " ${allowed[$module]} " == *" $target "* ]] ||
      fail "$cmake_file: orb_$module must not link $lib"
  done < <(grep -v '^\s*#' "$cmake_file" | grep -oE '\borb_[a-z]+\b' | sort -u || true)
done

# 5. Heavy and format-specific libraries stay in their module.
json=$(grep -rnE --include='*.?pp' '#\s*include\s*<boost/json' "$src" "$tests/unit" "$tests/support" \
         2>/dev/null | grep -vE "^($src/protocol/|$tests/unit/protocol/)" || true)
[[ -z "$json" ]] || fail "$json"$'\n'"only src/protocol (and its tests) may include Boost.JSON"

asio='#\s*include\s*<boost/(beast|asio)'
outside=$(grep -rnE --include='*.?pp' "$asio" "$src" "$tests/unit" "$tests/support" 2>/dev/null |
            grep -vE "^($src/net/|$tests/unit/net/)" || true)
[[ -z "$outside" ]] || fail "$outside"$'\n'"only src/net (and its tests) may include Beast/Asio"
public=$(grep -rnE --include='*.hpp' "$asio" "$src/net" 2>/dev/null | grep -v "^$src/net/detail/" ||
           true)
[[ -z "$public" ]] ||
  fail "$public"$'\n'"net's public headers stay free of Beast/Asio (pimpl); use src/net/detail/"
detail=$(quoted_includes "$src" "$tests/unit" | grep -E '"net/detail/' |
           grep -vE "^($src/net/|$tests/unit/net/)" || true)
[[ -z "$detail" ]] || fail "$detail"$'\n'"src/net/detail/ is private to net"

tz=$(grep -rnE --include='*.?pp' '#\s*include\s*<date/' "$src" "$tests/unit" "$tests/support" \
       2>/dev/null | grep -vE "^$src/orchestration/[a-z_]+\.cpp:" || true)
[[ -z "$tz" ]] ||
  fail "$tz"$'\n'"only src/orchestration's .cpp files include <date/...> (orchestration/time_zone.hpp)"

regex=$(grep -rnE --include='*.?pp' '#\s*include\s*<regex>' "$src" "$tests" 2>/dev/null |
          grep -v "^$src/common/regex.hpp:" || true)
[[ -z "$regex" ]] ||
  fail "$regex"$'\n'"include \"common/regex.hpp\", not <regex> (it silences g++ 12's false warning)"

if ((status == 0)); then echo "includes point down: ok"; fi
exit $status
