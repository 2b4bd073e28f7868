#pragma once

// The commands of fleetctl (protocol.md §7), one file each. Every Add*Command adds its subcommand
// to `app` with its flags, help text and an example, and on parsing sets ctx.run to the command.
// Thread-safety: used once, on the main thread.

namespace CLI {
class App;
}

namespace orb::cli {

class Context;

void AddAgentsCommand(CLI::App& app, Context& ctx);     // agents [AGENT]
void AddEnrollCommand(CLI::App& app, Context& ctx);     // enroll AGENT [--label k=v]
void AddUnenrollCommand(CLI::App& app, Context& ctx);   // unenroll AGENT
void AddJobsCommand(CLI::App& app, Context& ctx);       // jobs [filters]
void AddJobCommand(CLI::App& app, Context& ctx);        // job JOB [--events]
void AddEnqueueCommand(CLI::App& app, Context& ctx);    // enqueue TYPE --agent A ... [--wait]
void AddCancelCommand(CLI::App& app, Context& ctx);     // cancel JOB
void AddRetryCommand(CLI::App& app, Context& ctx);      // retry JOB
void AddLogsCommand(CLI::App& app, Context& ctx);       // logs JOB [--follow]
void AddWatchCommand(CLI::App& app, Context& ctx);      // watch [JOB]
void AddUploadCommand(CLI::App& app, Context& ctx);     // upload FILE
void AddArtifactsCommand(CLI::App& app, Context& ctx);  // artifacts ls|rm SHA256
void AddTokensCommand(CLI::App& app, Context& ctx);     // tokens create|revoke
void AddRolloutCommand(CLI::App& app, Context& ctx);    // rollout create|ls|show|pause|...
void AddScheduleCommand(CLI::App& app, Context& ctx);   // schedule create|ls|show|update|rm|fire
void AddHostCommand(CLI::App& app, Context& ctx);       // host show HOST
void AddHostsCommand(CLI::App& app, Context& ctx);      // hosts
// Hidden (not in --help): `completion bash|zsh` prints the shell completion of every command
// above (cli/completion.hpp); the fleetctl package installs its output. Add it last.
void AddCompletionCommand(CLI::App& app, Context& ctx);

}  // namespace orb::cli
