#include "agent/agent_main.hpp"

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/agent.hpp"
#include "agent/config.hpp"
#include "common/log.hpp"
#include "net/http_server.hpp"
#include "net/service_notifier.hpp"

namespace orb::agent {

int AgentMain(int argc, const char* const* argv, std::string_view version,
              const HandlerFactory& make_handlers) {
  return AgentMain(argc, argv, AgentVersion{version, std::string(version)}, make_handlers);
}

int AgentMain(int argc, const char* const* argv, const AgentVersion& agent_version,
              const HandlerFactory& make_handlers) {
  const std::string_view version = agent_version.version;
  auto command_line = ParseCommandLine(argc, argv, agent_version.text);
  if (!command_line) {
    std::fprintf(stderr, "orb-jobs-agent: %s\n", command_line.error().Describe().c_str());
    return 2;
  }
  if (!command_line->config) {
    std::fputs(command_line->output.c_str(), stdout);
    return command_line->exit_code;
  }
  const AgentConfig& config = *command_line->config;
  SetupLogging(config.log_format, config.log_level);
  const auto log = GetLogger("agent");
  auto token = ReadToken(config.token_file);
  if (!token) {
    log->error("{}", token.error().Describe());
    return 1;
  }
  AgentOptions options{config, *token, std::string(version)};
  const auto notifier = net::MakeSystemdNotifier("asking fleet-cmdr for jobs", "draining runs");
  // Caught from here on, before the agent starts any thread; waited for on a thread of their own
  // (the loop runs on this one). Leaked: the waiting thread may outlive main's scope at _Exit.
  auto* termination = new net::TerminationSignals();
  Agent agent(std::move(options), make_handlers(config), RealClock(), notifier.get());
  std::thread signals([&agent, log, termination] {
    const int signal_number = termination->Wait();
    log->info("signal {} received: stopping", signal_number);
    agent.Stop();
  });
  signals.detach();  // parked in sigwait until a signal comes; it ends with the process
  const auto ran = agent.Run();
  if (!ran) log->error("{}", ran.error().Describe());
  spdlog::shutdown();
  // _Exit: the signal thread is still parked in its wait, and a run that could not stop in time
  // is left to the process exit (Agent::Run); the journal is flushed by now.
  std::_Exit(ran ? 0 : 1);
}

}  // namespace orb::agent
