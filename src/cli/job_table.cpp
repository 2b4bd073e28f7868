#include "cli/job_table.hpp"

#include "cli/output.hpp"

namespace orb::cli {
namespace {

std::string Target(const protocol::Job& job) {
  if (job.instance_id) return "instance " + *job.instance_id;
  if (job.server_id) return "server " + *job.server_id;
  return "-";
}

std::string Attempts(const protocol::Job& job) {
  return std::to_string(job.attempts) + "/" + std::to_string(job.max_attempts);
}

std::string ErrorText(const protocol::RunError& error) {
  return error.code + ": " + error.message;
}

}  // namespace

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

std::string RenderJobTable(const std::vector<protocol::Job>& jobs, WallTime now) {
  Table table({"id", "type", "agent", "target", "status", "attempts", "age"});
  for (const auto& job : jobs) {
    std::string status(protocol::ToString(job.status));
    if (job.cancel_requested && !protocol::IsFinal(job.status)) status += " (cancelling)";
    table.AddRow({job.id, job.type, job.agent_id, Target(job), status, Attempts(job),
                  FormatAge(job.created_at, now)});
  }
  return table.Render();
}

std::string RenderJobDetail(const protocol::JobDetail& detail, WallTime now) {
  const auto& job = detail.job;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Job", job.id},
      {"Type", job.type},
      {"Agent", job.agent_id},
      {"Target", Target(job)},
      {"Status", std::string(protocol::ToString(job.status)) +
                     (job.cancel_requested ? " (cancel requested)" : "")},
      {"Attempts", Attempts(job)},
      {"Priority", std::to_string(job.priority)},
      {"Exclusive", job.exclusive ? "yes" : "no"},
      {"Timeout", std::to_string(job.timeout_seconds) + "s"},
      {"Created",
       FormatTimestamp(job.created_at) + " (" + FormatAge(job.created_at, now) + " ago)"},
      {"Updated", FormatTimestamp(job.updated_at)},
  };
  if (job.not_before) fields.emplace_back("Not before", FormatTimestamp(*job.not_before));
  if (job.batch_id) fields.emplace_back("Batch", *job.batch_id);
  if (job.idempotency_key) fields.emplace_back("Idempotency key", *job.idempotency_key);
  if (!job.depends_on.empty()) fields.emplace_back("Depends on", Join(job.depends_on));
  if (!job.waiting_for.empty()) fields.emplace_back("Waiting for", Join(job.waiting_for));
  if (job.last_error) fields.emplace_back("Last error", ErrorText(*job.last_error));
  fields.emplace_back("Payload", job.payload_json);
  if (job.result_json) fields.emplace_back("Result", *job.result_json);
  std::string out = RenderFields(fields);
  out += "\nRuns:\n";
  Table runs({"run", "attempt", "status", "percent", "started", "finished", "message"});
  runs.SetMaxWidth(6, 60);
  for (const auto& run : detail.runs) {
    std::string message = run.error ? ErrorText(*run.error) : run.message.value_or("");
    runs.AddRow({run.id, std::to_string(run.attempt), std::string(protocol::ToString(run.status)),
                 run.percent ? std::to_string(*run.percent) + "%" : "-",
                 FormatTimestamp(run.started_at),
                 run.finished_at ? FormatTimestamp(*run.finished_at) : "-", message});
  }
  out += runs.rows() == 0 ? "  (none yet)\n" : runs.Render();
  return out;
}

std::string RenderJobOutcome(const protocol::Job& job) {
  std::string line = job.id + " " + std::string(protocol::ToString(job.status));
  // FAILED, or CANCELLED because a dependency did not complete (dependency_failed).
  if (job.status != protocol::JobStatus::kCompleted && job.last_error) {
    line += ": " + ErrorText(*job.last_error);
  }
  return line;
}

}  // namespace orb::cli
