// orb-jobs-agent-testbed: the real orb-jobs-agent program (AgentMain) with one handler defined
// here, for the tests that must kill or signal a real agent process (kill -9, SIGTERM). Never
// installed; the shipped binary's handlers are in src/jobs/registry.cpp.
//
// The handler declares VERIFY_BACKUP. It writes root/started-<runId> when it begins, logs a few
// lines, then waits at a safe point until root/release exists or the run is cancelled.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_main.hpp"

namespace {

class FileGateHandler final : public orb::jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }

  orb::Expected<std::string> Run(orb::jobs::HandlerContext& context) override {
    const auto& run_id = context.execution().run_id;
    std::ofstream(context.root() / ("started-" + run_id)) << context.execution().attempt << '\n';
    for (int i = 0; i < 3; ++i)
      context.LogLine("info", "line " + std::to_string(i));
    context.Progress(50, "waiting for release");
    while (!std::filesystem::exists(context.root() / "release")) {
      if (context.cancel().WaitFor(std::chrono::milliseconds(20))) {
        return orb::Fail(context.cancel().ToError());
      }
    }
    return std::string(R"({"released":true})");
  }
};

}  // namespace

int main(int argc, char** argv) {
  return orb::agent::AgentMain(argc, argv, "0.0.0-testbed", [](const orb::agent::AgentConfig&) {
    std::vector<std::unique_ptr<orb::jobs::JobHandler>> handlers;
    handlers.push_back(std::make_unique<FileGateHandler>());
    return handlers;
  });
}
