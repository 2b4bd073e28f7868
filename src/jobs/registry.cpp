// The one list of job handlers (style.md habit 6). Empty until the handlers of issues 5 and 6
// land: the agent then declares no job types in `hello` and fleet-cmdr dispatches it nothing.
// Never list a fake handler here; tests define their own.
#include "jobs/job_handler.hpp"

namespace orb::jobs {

std::vector<std::unique_ptr<JobHandler>> MakeHandlers(const HandlerDeps& /*deps*/) {
  std::vector<std::unique_ptr<JobHandler>> handlers;
  return handlers;
}

}  // namespace orb::jobs
