#pragma once

// Following jobs live over the event stream (protocol.md §6) until they end: the engine of
// `fleetctl watch JOB` and `fleetctl enqueue --wait`. It subscribes first and only then reads each
// job's snapshot over REST (GET /v1/jobs/{id}), so no change falls between the two; an event that
// ends a job is confirmed over REST (a FAILED run may be followed by an automatic retry), and the
// snapshots are re-read after a resync or a long silence.
// Thread-safety: one thread.

#include <optional>
#include <string>
#include <vector>

#include "cli/api.hpp"
#include "cli/context.hpp"
#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::cli {

// What a progress line shows about one job.
struct JobView {
  std::string id;
  std::string type;
  std::string agent_id;
  std::string target;  // instanceId or serverId, "" when none
  std::string status;  // JobStatus spelling
  std::optional<int> percent;
  std::string message;
  bool operator==(const JobView&) const = default;
};

// The view of a job snapshot: percent and message of its latest run, or its last error.
JobView ViewOf(const protocol::JobDetail& detail);

// Applies one stream event of that job: status, percent and message move on; a new run
// (job.running, job.retried, job.queued) clears the percent; a finished job shows 100 % when it
// completed.
void ApplyEvent(JobView& view, const protocol::Event& event);

// True for job.completed, job.failed and job.cancelled.
bool EndsJob(protocol::EventType type);

// One progress-bar line: "<id>  <TYPE> <target>  [####....]  42%  RUNNING  message".
std::string RenderJobLine(const JobView& view);

// One line per event for a non-terminal: "<timestamp>  <jobId>  <event type>  <status>  <pct>
// <message>".
std::string RenderEventLine(const protocol::Event& event);

// How a watcher reports while it waits.
enum class WatchDisplay {
  kBars,        // progress bars redrawn in place (stdout is a terminal)
  kLines,       // one line per event
  kJsonEvents,  // one JSON event per line (watch --output json)
  kQuiet,       // nothing (enqueue --wait --output json prints only the final jobs)
};

// Follows `job_ids` until every one is final (COMPLETED, FAILED or CANCELLED over REST) and
// returns their final state, in the order given. Errors: those of Api and EventStream; kCancelled
// when interrupted.
Expected<std::vector<protocol::Job>> WaitForJobs(Context& ctx, Api& api,
                                                 const std::vector<std::string>& job_ids,
                                                 WatchDisplay display);

}  // namespace orb::cli
