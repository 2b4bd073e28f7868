#pragma once

// The whole of orb-jobs-agent's main() (protocol.md §7): flags and config, logging, the token,
// systemd readiness and watchdog, SIGTERM/SIGINT, Agent::Run, and the exit code. The shipped
// binary calls it with jobs::MakeHandlers; the integration tests build a second binary that calls
// it with a handler of their own, so that kill -9 and SIGTERM are tested on the real program.
//
// Exit codes: 0 after a clean stop, 1 when the agent cannot start (token, state dir, journal),
// 2 for a bad command line or config. Never returns normally once the agent ran: it leaves with
// std::_Exit so that a run that could not stop in time does not block the exit.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.hpp"
#include "jobs/job_handler.hpp"

namespace orb::agent {

// Makes the handlers once the config is known (the shipped binary passes the control plane URL,
// token file and CA file on to jobs::HandlerDeps for artifact downloads).
using HandlerFactory =
    std::function<std::vector<std::unique_ptr<jobs::JobHandler>>(const AgentConfig& config)>;

// What the agent says it is: `version` in hello (agentVersion, "0.1.0"), `text` on --version
// ("orb-jobs-agent 0.1.0 (git ...)"; main/build_info.hpp).
struct AgentVersion {
  std::string_view version;
  std::string text;
};

int AgentMain(int argc, const char* const* argv, const AgentVersion& version,
              const HandlerFactory& make_handlers);
// The same, printing `version` alone on --version.
int AgentMain(int argc, const char* const* argv, std::string_view version,
              const HandlerFactory& make_handlers);

}  // namespace orb::agent
