#pragma once

// A game server for the instance tests: it says it is ready, and saves and exits on "stop"
// (exit 4 when its stdin closes without one), with the START_INSTANCE payload that runs it as
// server s1's bin/start.sh.

namespace orb::testing {

inline constexpr const char* kFakeGameServerScript = R"sh(#!/bin/sh
echo "Done (0.1s)! For help, type help"
while read -r line; do
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
done
exit 4
)sh";

inline constexpr const char* kFakeGameServerStart =
    R"({"config": {"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop",
        "readyPattern": "Done \\(", "readyTimeoutSeconds": 10, "stopTimeoutSeconds": 5}})";

}  // namespace orb::testing
