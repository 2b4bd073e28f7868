#include "store/ops/dependencies.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "protocol/payloads/payloads.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::ops {

using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;

namespace {

// Reads a list of ids: an IN list, or a plain comparison for one id (its own cached statement).
std::string IdCondition(sql::Connection& db, std::string_view column,
                        const std::vector<std::string>& ids) {
  if (ids.size() == 1) return std::string(column) + " = ?1";
  return db.dialect().in_list(column, 1);
}

void BindIds(Query& q, const std::vector<std::string>& ids) {
  if (ids.size() == 1) {
    q.Bind(1, ids[0]);
  } else {
    q.BindList(1, ids);
  }
}

// A CREATED job that still waits for a job (deps_waiting > 0: a CREATED job waiting only for its
// notBefore or a retry backoff has all its dependencies COMPLETED), with deps_waiting, and
// whether that dependency is satisfied by any end of the job (job_dependencies.any_end: the first
// step of a schedule's queued chain, docs/decisions/0022) or only by COMPLETED.
struct Waiting {
  Job job;
  int waiting = 0;
  bool any_end = false;
};

}  // namespace

std::string DependentsSql() {
  // The state is tested by the caller, not in the WHERE clause: given `j.status = 'CREATED'`
  // and `ORDER BY j.id`, SQLite reads jobs_status (status, id) for the order, and PostgreSQL with
  // statistics older than a burst of waiting jobs starts from it too: every CREATED job (20,000
  // while schedules fire chains) for each job that ends, instead of its few dependents.
  return "SELECT " + JobColumns("j.") +
         ", j.deps_waiting, d.any_end FROM job_dependencies d JOIN jobs j "
         "ON j.id = d.job_id WHERE d.depends_on = ?1 ORDER BY j.id";
}

namespace {

std::vector<Waiting> WaitingDependents(sql::Connection& db, const std::string& job_id) {
  static const std::string sql = DependentsSql();
  Query q(db, sql);
  q.Bind(1, job_id);
  std::vector<Waiting> dependents;
  while (q.Step()) {
    Waiting dependent{ReadJob(q), q.Int(kJobColumnCount), q.Bool(kJobColumnCount + 1)};
    if (dependent.job.status != JobStatus::kCreated || dependent.waiting <= 0) continue;
    dependents.push_back(std::move(dependent));
  }
  return dependents;
}

void SetDepsWaiting(sql::Connection& db, const std::string& job_id, int waiting) {
  Query q(db, "UPDATE jobs SET deps_waiting = ?1 WHERE id = ?2");
  q.Bind(1, waiting).Bind(2, job_id);
  q.Defer();
}

// `ended` is done for `dependents` (all of them when it COMPLETED, those waiting for any end of
// it otherwise): each counts one dependency less; the last one queues it.
void ReleaseDependents(WriteContext& ctx, std::vector<Waiting> dependents, WallTime now) {
  if (dependents.empty()) return;
  std::vector<std::string> agents;
  for (const Waiting& w : dependents)
    agents.push_back(w.job.agent_id);
  ctx.RequireLocked(agents);
  for (auto& [job, waiting, any_end] : dependents) {
    SetDepsWaiting(ctx.db(), job.id, waiting - 1);
    if (waiting > 1) continue;
    // The last dependency: the job goes on as if it had just been created. A notBefore still
    // ahead keeps it CREATED until then (PromoteDue).
    if (job.not_before && *job.not_before > now) continue;
    const EventType type = Advance(job, protocol::JobEvent::kPromote);
    job.updated_at = now;
    SaveJob(ctx.db(), job, Millis(now));
    ctx.Emit(MakeJobEvent(type, job, now));
    ctx.Touch(job.agent_id);
  }
}

// `ended` is FAILED or CANCELLED: every job waiting for it, and for those, is cancelled; a job
// waiting for any end of one of them is released instead (ReleaseDependents).
void CancelDependents(WriteContext& ctx, const Job& ended, WallTime now) {
  struct Doomed {
    Job job;
    std::string dependency;  // the one that ended, by which it is cancelled
    JobStatus dependency_status;
  };
  std::vector<Doomed> doomed;
  std::vector<Waiting> released;
  std::set<std::string> seen{ended.id};
  std::vector<std::pair<std::string, JobStatus>> frontier{{ended.id, ended.status}};
  // Reads the whole chain first: the agents to lock are known before the first write.
  while (!frontier.empty()) {
    std::vector<std::pair<std::string, JobStatus>> next;
    for (const auto& [id, status] : frontier) {
      for (Waiting& waiting : WaitingDependents(ctx.db(), id)) {
        if (waiting.any_end) {
          released.push_back(std::move(waiting));
          continue;
        }
        if (!seen.insert(waiting.job.id).second) continue;
        next.emplace_back(waiting.job.id, JobStatus::kCancelled);
        doomed.push_back({std::move(waiting.job), id, status});
      }
    }
    frontier = std::move(next);
  }
  if (doomed.empty() && released.empty()) return;
  std::vector<std::string> agents;
  for (const Doomed& d : doomed)
    agents.push_back(d.job.agent_id);
  for (const Waiting& w : released)
    agents.push_back(w.job.agent_id);
  ctx.RequireLocked(agents);
  for (Doomed& d : doomed) {
    Job& job = d.job;
    const EventType type = Advance(job, protocol::JobEvent::kDependencyFailed);
    job.last_error = DependencyFailedError(d.dependency, d.dependency_status);
    job.updated_at = now;
    SetDepsWaiting(ctx.db(), job.id, 0);
    SaveJob(ctx.db(), job);
    protocol::Event event = MakeJobEvent(type, job, now);
    event.error = job.last_error;
    event.message = job.last_error->message;
    ctx.Emit(std::move(event));
  }
  // A job released by a cancelled one is not among the doomed (it waits for any end), and a job
  // is released once per dependency that ended.
  ReleaseDependents(ctx, std::move(released), now);
}

}  // namespace

Expected<std::vector<Dependency>> LoadDependencies(WriteContext& ctx,
                                                   const std::vector<JobSpec>& specs) {
  std::vector<std::string> ids;
  for (const JobSpec& spec : specs)
    ids.insert(ids.end(), spec.depends_on.begin(), spec.depends_on.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<Dependency> found;
  if (ids.empty()) return found;
  {
    Query q(ctx.db(),
            "SELECT id, agent_id, status FROM jobs WHERE " + IdCondition(ctx.db(), "id", ids));
    BindIds(q, ids);
    while (q.Step()) {
      auto status = protocol::JobStatusFromString(q.Text(2));
      if (!status) sql::Corrupt("job status " + q.Text(2));
      found.push_back({q.Text(0), q.Text(1), *status});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Dependency& a, const Dependency& b) { return a.id < b.id; });
  for (const JobSpec& spec : specs) {
    for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
      const std::string& id = spec.depends_on[i];
      const bool known =
          std::binary_search(found.begin(), found.end(), Dependency{id, {}, {}},
                             [](const Dependency& a, const Dependency& b) { return a.id < b.id; });
      if (!known) {
        const std::string field = "dependsOn[" + std::to_string(i) + "]";
        return Fail(protocol::ProblemsError(Errc::kInvalidRequest,
                                            {{field, "is not a job: no job has the id " + id}}));
      }
    }
  }
  std::vector<std::string> agents;
  for (const Dependency& dependency : found)
    agents.push_back(dependency.agent_id);
  ctx.RequireLocked(agents);
  return found;
}

DependencyState StateOf(const std::vector<std::string>& depends_on,
                        const std::vector<Dependency>& known) {
  DependencyState state;
  for (const std::string& id : depends_on) {
    const auto it =
        std::find_if(known.begin(), known.end(), [&](const Dependency& d) { return d.id == id; });
    if (it == known.end() || it->status == JobStatus::kCompleted) continue;
    state.waiting_for.push_back(id);
    if (!state.failed &&
        (it->status == JobStatus::kFailed || it->status == JobStatus::kCancelled)) {
      state.failed = id;
      state.failed_status = it->status;
    }
  }
  return state;
}

void RecordDependencies(WriteContext& ctx, const std::string& job_id,
                        const std::vector<std::string>& depends_on, bool any_end) {
  for (std::size_t i = 0; i < depends_on.size(); ++i) {
    Query q(ctx.db(),
            "INSERT INTO job_dependencies (job_id, depends_on, position, any_end) "
            "VALUES (?1, ?2, ?3, ?4)");
    q.Bind(1, job_id).Bind(2, depends_on[i]).Bind(3, static_cast<int>(i)).Bind(4, any_end);
    q.Defer();
    Query mark(ctx.db(), "UPDATE jobs SET has_dependents = 1 WHERE id = ?1 AND has_dependents = 0");
    mark.Bind(1, depends_on[i]);
    mark.Defer();
  }
}

protocol::RunError DependencyFailedError(const std::string& dependency, JobStatus status) {
  protocol::RunError error;
  error.code = std::string(kDependencyFailedCode);
  error.message = "dependency " + dependency + " ended " + std::string(protocol::ToString(status)) +
                  "; this job will not run";
  error.retryable = false;
  return error;
}

void OnJobEnded(WriteContext& ctx, const Job& job, WallTime now) {
  if (job.status == JobStatus::kCompleted) {
    return ReleaseDependents(ctx, WaitingDependents(ctx.db(), job.id), now);
  }
  if (job.status == JobStatus::kFailed || job.status == JobStatus::kCancelled) {
    CancelDependents(ctx, job, now);
  }
}

std::optional<std::string> UnfinishedDependency(sql::Connection& db, const std::string& job_id) {
  Query q(db,
          "SELECT d.depends_on FROM job_dependencies d JOIN jobs j ON j.id = d.depends_on "
          "WHERE d.job_id = ? AND j.status <> 'COMPLETED' ORDER BY d.position LIMIT 1");
  q.Bind(1, job_id);
  if (!q.Step()) return std::nullopt;
  return q.Text(0);
}

void ClearDepsWaiting(WriteContext& ctx, const std::string& job_id) {
  SetDepsWaiting(ctx.db(), job_id, 0);
}

void FillDependencies(sql::Connection& db, std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  std::vector<std::string> ids;
  for (const Job& job : jobs)
    ids.push_back(job.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // job id -> (position, dependency, its status)
  std::map<std::string, std::vector<std::tuple<int, std::string, std::string>>> rows;
  {
    Query q(db,
            "SELECT d.job_id, d.position, d.depends_on, j.status FROM job_dependencies d "
            "JOIN jobs j ON j.id = d.depends_on WHERE " +
                IdCondition(db, "d.job_id", ids));
    BindIds(q, ids);
    while (q.Step())
      rows[q.Text(0)].emplace_back(q.Int(1), q.Text(2), q.Text(3));
  }
  if (rows.empty()) return;
  for (Job& job : jobs) {
    auto it = rows.find(job.id);
    if (it == rows.end()) continue;
    std::sort(it->second.begin(), it->second.end());
    job.depends_on.clear();
    job.waiting_for.clear();
    // waitingFor: only while the job waits for them (CREATED, before it was first queued).
    const bool waits = job.status == JobStatus::kCreated && job.attempts == 0;
    for (const auto& [position, dependency, status] : it->second) {
      job.depends_on.push_back(dependency);
      if (waits && status != protocol::ToString(JobStatus::kCompleted)) {
        job.waiting_for.push_back(dependency);
      }
    }
  }
}

void FillDependencies(sql::Connection& db, Job& job) {
  std::vector<Job> one{std::move(job)};
  FillDependencies(db, one);
  job = std::move(one.front());
}

}  // namespace orb::store::ops
