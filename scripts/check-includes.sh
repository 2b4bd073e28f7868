#!/usr/bin/env bash
# Fails when a module includes a module it must not (docs/architecture.md "Dependencies").
# Links point down only: main -> server|agent|cli -> store|jobs|net -> protocol|os -> common.
set -euo pipefail
src=${1:-$(dirname "$0")/../src}
declare -A allowed=(
  [common]="common"
  [protocol]="common protocol"
  [os]="common os"
  [net]="common net"
  [store]="common protocol store"
  [jobs]="common protocol os jobs"
  [server]="common protocol net store server"
  [agent]="common protocol os net jobs agent"
  [cli]="common protocol net cli"
  [main]="common protocol os net store jobs server agent cli main"
)
status=0
for module in "${!allowed[@]}"; do
  [[ -d "$src/$module" ]] || continue
  while IFS=: read -r file line text; do
    target=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$text")
    if [[ " ${allowed[$module]} " != *" $target "* ]]; then
      echo "$file:$line: src/$module must not include src/$target: $text"
      status=1
    fi
  done < <(grep -rnE '^#include "[a-z_]+/' "$src/$module" || true)
done
# JSON lives only in protocol/ (style.md): no other module includes boost/json.
if grep -rnE '#include <boost/json' "$src" --include='*.?pp' | grep -v "^$src/protocol/"; then
  echo "only src/protocol may include Boost.JSON"
  status=1
fi
# Beast and Asio stay in net/ (and the programs that own an event loop must go through net/).
if grep -rnE '#include <boost/(beast|asio)' "$src" --include='*.hpp' | grep -v "^$src/net/"; then
  echo "only src/net headers may include Beast/Asio"
  status=1
fi
if ((status == 0)); then echo "includes point down: ok"; fi
exit $status
