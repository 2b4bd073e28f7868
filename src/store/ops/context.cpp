#include "store/ops/context.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/random.hpp"

namespace orb::store::ops {

double WriteContext::Random() const {
  return deps_.unit_random ? deps_.unit_random() : RandomUnit();
}

bool WriteContext::Locked(std::string_view agent_id) const {
  return std::find(locked_.begin(), locked_.end(), agent_id) != locked_.end();
}

void WriteContext::RequireLocked(const std::vector<std::string>& agents) const {
  MoreAgentsNeeded more;
  for (const std::string& agent : agents) {
    if (!Locked(agent)) more.agents.push_back(agent);
  }
  if (!more.agents.empty()) throw more;
}

protocol::EventType Advance(protocol::Job& job, protocol::JobEvent step) {
  const protocol::JobTransition* row = protocol::FindTransition(job.status, step);
  if (row == nullptr) {
    throw std::logic_error("lifecycle: cannot " + std::string(protocol::ToString(step)) + " job " +
                           job.id + " in status " + std::string(protocol::ToString(job.status)));
  }
  job.status = row->to;
  return row->published;
}

protocol::Event MakeJobEvent(protocol::EventType type, const protocol::Job& job, WallTime now) {
  protocol::Event event;
  event.type = type;
  event.timestamp = now;
  event.job_id = job.id;
  event.run_id = job.current_run_id;
  event.agent_id = job.agent_id;
  event.instance_id = job.instance_id;
  event.job_type = job.type;
  event.status = std::string(protocol::ToString(job.status));
  if (job.attempts > 0) event.attempt = job.attempts;
  event.rollout_id = job.rollout_id;
  return event;
}

}  // namespace orb::store::ops
