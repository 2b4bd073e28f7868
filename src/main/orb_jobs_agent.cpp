// orb-jobs-agent: runs prescribed jobs for fleet-cmdr on this host (protocol.md §4, §7).
#include "agent/agent_main.hpp"
#include "jobs/job_handler.hpp"

namespace {
constexpr const char* kVersion = "0.1.0";
}

int main(int argc, char** argv) {
  return orb::agent::AgentMain(argc, argv, kVersion,
                               [] { return orb::jobs::MakeHandlers(orb::jobs::HandlerDeps{}); });
}
