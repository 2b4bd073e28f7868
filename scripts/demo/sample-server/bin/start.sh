#!/usr/bin/env bash
# The demo's game server: a stand-in for a real one, with the same habits. It prints a ready line
# like Minecraft's ("Done (...)! For help, type \"help\""), keeps a world in its working directory
# (the instance's data/), saves it every few seconds, and stops cleanly on "stop" from stdin.
set -u
world=world
mkdir -p "$world"
echo "[server] starting sample server $(cat "$(dirname "$0")/../VERSION") in $PWD"
ticks=$(cat "$world/ticks" 2>/dev/null || echo 0)
echo "[server] Done (0.2s)! For help, type \"help\""
save() { printf '%s\n' "$ticks" > "$world/ticks.tmp" && mv "$world/ticks.tmp" "$world/ticks"; }
while true; do
  if read -r -t 5 line; then
    case "$line" in
      stop) echo "[server] Stopping the server"; save; echo "[server] saved $ticks ticks"; exit 0 ;;
      help) echo "[server] commands: stop, save, help" ;;
      save) save; echo "[server] saved" ;;
      *) echo "[server] unknown command: $line" ;;
    esac
  elif [[ $? -gt 128 ]]; then
    ticks=$((ticks + 1)); save
  else
    sleep 1  # stdin closed: keep running until a signal, as a real server does
  fi
done
