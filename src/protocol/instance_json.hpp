#pragma once

// The JSON of an instance (job-types.md §1–2 and §3 START/STOP/RESTART_INSTANCE): instance.json,
// runtime.json, the three payloads and the three results, as plain structs. Lives in protocol
// because JSON does (style.md "Heavy headers stay in one place": only src/protocol sees the JSON
// library); the handlers in src/jobs/instances/ use these and never the JSON text itself.
// Pure functions; thread-safe. Never throws (except std::bad_alloc).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::protocol {

// instances/<id>/instance.json (job-types.md §2), defaults filled in.
struct InstanceConfig {
  std::string server_id;
  std::vector<std::string> command;  // command[0]: a relative path inside the active build
  std::map<std::string, std::string> env;
  std::optional<std::string> stop_command;  // one line for stdin; else stop_signal is sent
  std::string stop_signal = "SIGTERM";      // SIGTERM|SIGINT|SIGHUP|SIGQUIT|SIGKILL|SIGUSR1|SIGUSR2
  int stop_timeout_seconds = 30;
  std::optional<std::string> ready_pattern;  // ECMAScript regex
  int ready_timeout_seconds = 120;
  bool operator==(const InstanceConfig&) const = default;
};

// START_INSTANCE payload {"config": {...}}; config absent: keep the stored instance.json.
struct StartInstancePayload {
  std::optional<InstanceConfig> config;
};

// STOP_INSTANCE and RESTART_INSTANCE payload {"timeoutSeconds": 30}.
struct StopInstancePayload {
  std::optional<int> timeout_seconds;  // overrides stopTimeoutSeconds
};

// Validated exactly as fleet-cmdr does (protocol/payloads ValidatePayload, so the agent applies
// the same rules), then decoded with the defaults filled in. Errc::kInvalidPayload with details
// rooted at "payload." otherwise.
Expected<StartInstancePayload> ParseStartInstancePayload(std::string_view payload_json);
// `type` is "STOP_INSTANCE" or "RESTART_INSTANCE".
Expected<StopInstancePayload> ParseStopInstancePayload(std::string_view type,
                                                       std::string_view payload_json);

// A stored instance.json, checked by the same rules as START_INSTANCE's `config`.
// Errc::kInvalidPayload (details rooted at "payload.config.") or kInvalidJson.
Expected<InstanceConfig> ParseInstanceConfig(std::string_view text);
// instance.json text (every field written, defaults included).
std::string InstanceConfigJson(const InstanceConfig& config);

// runtime.json "state".
enum class InstanceState { kStarting, kRunning, kStopping, kStopped };
std::string_view ToString(InstanceState state);  // "starting" | "running" | "stopping" | "stopped"

// How the last run of the instance ended.
struct InstanceExit {
  std::optional<std::int64_t> pid;  // the process that ended
  std::optional<int> exit_code;     // unknown when killed by a signal or not reaped by us
  std::optional<int> signal;        // the signal that killed it, when known
  bool forced = false;              // it needed SIGTERM/SIGKILL to its process group
  std::string reason;               // "stopped by STOP_INSTANCE", "not ready: ..."
  WallTime at{};
  bool operator==(const InstanceExit&) const = default;
};

// instances/<id>/runtime.json {state, pid, startTime, unit, runId, buildId, startedAt, lastExit}.
struct InstanceRuntime {
  InstanceState state = InstanceState::kStopped;
  std::optional<std::int64_t> pid;          // set while starting/running/stopping
  std::optional<std::uint64_t> start_time;  // /proc/<pid>/stat field 22, with pid
  // The systemd transient unit it runs as ("orb-instance-<id>.service"), with pid; none when it
  // runs as a plain process session.
  std::optional<std::string> unit;
  // The run that started it. Written with state "starting" and no pid before the spawn, so a new
  // agent after a crash between the spawn and the next write finds the process by its
  // ORB_RUN_ID instead of starting a second one.
  std::optional<std::string> run_id;
  std::optional<std::string> build_id;  // the build it (last) started on
  std::optional<WallTime> started_at;
  std::optional<InstanceExit> last_exit;
  bool operator==(const InstanceRuntime&) const = default;
};

std::string InstanceRuntimeJson(const InstanceRuntime& runtime);
// Errc::kInvalidJson / kInvalidRequest (with details) for a damaged file; unknown keys ignored.
Expected<InstanceRuntime> ParseInstanceRuntime(std::string_view text);

// START_INSTANCE result {instanceId, pid, buildId} (+ "alreadyRunning": true).
struct StartInstanceResult {
  std::string instance_id;
  std::int64_t pid = 0;
  std::string build_id;
  bool already_running = false;
};

// STOP_INSTANCE result {instanceId, exitCode, forced} (+ "alreadyStopped": true).
struct StopInstanceResult {
  std::string instance_id;
  std::optional<int> exit_code;  // null when unknown
  bool forced = false;
  bool already_stopped = false;
};

std::string StartInstanceResultJson(const StartInstanceResult& result);
std::string StopInstanceResultJson(const StopInstanceResult& result);
// RESTART_INSTANCE result: the start result's keys plus "stop": {exitCode, forced[,
// alreadyStopped]}.
std::string RestartInstanceResultJson(const StopInstanceResult& stop,
                                      const StartInstanceResult& start);

}  // namespace orb::protocol
