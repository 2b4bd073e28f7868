#!/usr/bin/env bash
# fleetctl's bash completion in a real bash: `complete -p` names _fleetctl, and _fleetctl, called
# the way bash calls it (COMP_WORDS split at COMP_WORDBREAKS, COMP_CWORD), offers what
# `fleetctl --help` and `fleetctl COMMAND --help` list, so the two cannot drift apart.
# Usage: completion_test.sh FLEETCTL [COMPLETION_FILE]   (default: `FLEETCTL completion bash`)
set -euo pipefail
fleetctl=$1
file=${2:-}
if [[ -z "$file" ]]; then
  file=$(mktemp)
  trap 'rm -f "$file"' EXIT
  "$fleetctl" completion bash >"$file"
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# shellcheck source=/dev/null
source "$file"
registered=$(complete -p fleetctl)
[[ "$registered" == "complete -F _fleetctl fleetctl" ]] || fail "complete -p fleetctl: $registered"

# complete_words WORD...: what _fleetctl offers for the last word, sorted, one line.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _fleetctl fleetctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd' '
}
# expect "WANTED" WORD...: the completion of WORD... is exactly WANTED (sorted).
expect() {
  local wanted=$1; shift
  local got
  got=$(complete_words "$@")
  [[ "$got" == "$wanted" ]] || fail "fleetctl ${*:2}<TAB>: got '$got', wanted '$wanted'"
}
sorted() { tr ' ' '\n' <<<"$*" | grep -v '^$' | LC_ALL=C sort -u | paste -sd' '; }

# Every command of `fleetctl --help`, and only those (the hidden `completion` is not offered).
commands=$("$fleetctl" --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z-]\+\) .*/\1/p')
[[ $(wc -w <<<"$commands") -ge 10 ]] || fail "fleetctl --help lists too few commands: $commands"
expect "$(sorted $commands)" fleetctl ""
# Every option of every command's --help (its own and the global ones after it).
global=$("$fleetctl" --help | sed -n '/^Options:/,/^$/p' | grep -oE '(^|[ ,])--?[a-z][a-z-]*' |
           tr -d ' ,' | grep -vE '^(-h|--help|--version)$')
for command in $commands; do
  # Its subcommands (tokens create|revoke), when it has some.
  subcommands=$("$fleetctl" "$command" --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z-]\+\) .*/\1/p')
  if [[ -n "$subcommands" ]]; then expect "$(sorted $subcommands)" fleetctl "$command" ""; fi
  own=$("$fleetctl" "$command" --help | sed -n '/^Options:/,/^$/p' | grep -oE '(^|[ ,])--?[a-z][a-z-]*' |
          tr -d ' ,')
  expect "$(sorted $own $global)" fleetctl "$command" -
done

# A few inputs, the way bash splits them ("--status=FA" is --status = FA).
expect "tokens" fleetctl tok
expect "create revoke" fleetctl tokens ""
expect "admin operator viewer" fleetctl tokens create --role ""
expect "FAILED" fleetctl jobs --status FA
expect "FAILED" fleetctl jobs --status = FA
expect "json table" fleetctl -o ""
expect "json" fleetctl jobs --output = j
expect "BACKUP_INSTANCE" fleetctl enqueue BACK
expect "--limit" fleetctl jobs --li
expect "--server --server-id" fleetctl enqueue --serv
# A URL value, split at its colons, is not taken for a command or an argument.
expect "job jobs" fleetctl --server http : //fleet : 8080 job
expect "" fleetctl enqueue BACKUP_INSTANCE ""
# File names where a file is expected.
dir=$(mktemp -d)
touch "$dir/paper-1.21.tar.zst" "$dir/token"
expect "$dir/paper-1.21.tar.zst" fleetctl upload "$dir/pa"
expect "$dir/token" fleetctl --token-file "$dir/to"
rm -rf "$dir"

if ((failures)); then
  echo "$failures completion check(s) failed"
  exit 1
fi
echo "bash completion ok: $(wc -w <<<"$commands") commands"
