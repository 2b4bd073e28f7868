#!/usr/bin/env bash
# Checks that every C++ file of the repository is formatted by .clang-format (Debian 12's
# clang-format 14); run by ctest as style.clang_format. To fix: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard '*.cpp' '*.hpp' '*.h')
else
  mapfile -t files < <(find src tests bench cmake -name '*.cpp' -o -name '*.hpp' -o -name '*.h' |
                       grep -v -e '/node_modules/' -e '^build/')
fi
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
report="$(mktemp)"
trap 'rm -f "${report}"' EXIT
if ! clang-format --dry-run -Werror "${files[@]}" 2>"${report}"; then
  sed -n 's/^\([^ :]*\):[0-9]*:[0-9]*: error:.*/not formatted: \1/p' "${report}" | sort -u >&2
  echo "check-format: run scripts/check-format.sh --fix ($(clang-format --version))" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
