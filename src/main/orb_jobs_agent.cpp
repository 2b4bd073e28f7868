// orb-jobs-agent: runs prescribed jobs for fleet-cmdr on this host (protocol.md §4, §7).
#include "agent/agent_main.hpp"
#include "jobs/job_handler.hpp"
#include "main/build_info.hpp"

int main(int argc, char** argv) {
  const orb::agent::AgentVersion version{orb::build::Version(),
                                         orb::build::VersionText("orb-jobs-agent")};
  return orb::agent::AgentMain(argc, argv, version, [](const orb::agent::AgentConfig& config) {
    orb::jobs::HandlerDeps deps;
    deps.control_plane_urls = config.servers;  // artifacts: /v1/artifacts/{sha256} with the token
    deps.token_file = config.token_file;
    deps.ca_file = config.ca_file;
    deps.instance_supervisor = config.instance_supervisor;
    return orb::jobs::MakeHandlers(deps);
  });
}
