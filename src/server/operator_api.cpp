#include "server/operator_api.hpp"

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "protocol/codec.hpp"
#include "protocol/job_types.hpp"
#include "protocol/job_types_json.hpp"
#include "protocol/validate_job.hpp"
#include "server/web_ui.hpp"

namespace orb::server {
OperatorApi::OperatorApi(std::filesystem::path artifact_dir, Deps deps, Metrics metrics,
                         bool artifacts_in_store)
    : artifact_dir_(std::move(artifact_dir)),
      artifacts_in_store_(artifacts_in_store),
      deps_(deps),
      metrics_(metrics),
      copies_(artifact_dir_,
              {[this](const std::string& sha256) -> Expected<std::uint64_t> {
                 auto stat = deps_.store.StatArtifact(sha256);
                 if (!stat) return Fail(std::move(stat.error()));
                 return stat->size;
               },
               [this](const std::string& sha256, std::uint64_t offset, std::uint64_t length,
                      const store::ArtifactSink& write) {
                 return deps_.store.ReadArtifact(sha256, offset, length, write);
               }},
              [this](std::function<void()> copy) { deps_.calls.Post(std::move(copy)); }) {}

void OperatorApi::RegisterRoutes(Router& router) {
  constexpr auto kPublic = RouteClass::kPublic;
  constexpr auto kViewer = RouteClass::kViewerRead;
  constexpr auto kOperator = RouteClass::kOperatorWrite;
  constexpr auto kAdmin = RouteClass::kAdmin;
  constexpr auto kJson = BodyKind::kJson;
  // Public: liveness, readiness, the web UI.
  router.Add({"GET", "/healthz", kPublic},
             [](Call&& call) { Reply(call.responder, 200, R"({"status":"ok"})"); });
  router.Add({"GET", "/readyz", kPublic}, [this](Call&& call) { Ready(std::move(call)); });
  // The web UI: index.html at `/`, and every file of the embedded table at `/ui/<name>`, one
  // route for all of them. no-cache: a browser revalidates, so an upgraded fleet-cmdr's scripts
  // are never mixed with an older page's.
  const auto serve = [](Call& call, std::string_view name) {
    const WebUiFile* file = FindWebUiFile(name);
    if (file == nullptr) {
      return ReplyError(call.responder,
                        MakeError(Errc::kNotFound, "the web UI has no file " + std::string(name)));
    }
    HttpResponse response;
    response.content_type = std::string(file->content_type);
    response.headers.push_back({"Cache-Control", "no-cache"});
    response.body = std::string(file->body);
    call.responder->Send(std::move(response));
  };
  const auto page = [serve](Call&& call) { serve(call, "index.html"); };
  router.Add({"GET", "/", kPublic}, page);
  router.Add({"GET", "/index.html", kPublic}, page);
  router.Add({"GET", "/ui/{file}", kPublic},
             [serve](Call&& call) { serve(call, call.Param("file")); });
  router.Add({"GET", "/metrics", RouteClass::kMetrics},
             [this](Call&& call) { RenderMetrics(std::move(call)); });
  // Jobs.
  router.Add({"POST", "/v1/jobs", kOperator, kJson},
             [this](Call&& call) { CreateJobs(std::move(call)); });
  router.Add({"GET", "/v1/jobs", kViewer}, [this](Call&& call) { ListJobs(std::move(call)); });
  router.Add({"GET", "/v1/jobs/{id}", kViewer}, [this](Call&& call) { GetJob(std::move(call)); });
  router.Add({"GET", "/v1/jobs/{id}/events", kViewer},
             [this](Call&& call) { GetJobEvents(std::move(call)); });
  router.Add({"GET", "/v1/jobs/{id}/logs", kViewer},
             [this](Call&& call) { GetJobLogs(std::move(call)); });
  router.Add({"POST", "/v1/jobs/{id}/cancel", kOperator},
             [this](Call&& call) { CancelJob(std::move(call)); });
  router.Add({"POST", "/v1/jobs/{id}/retry", kOperator},
             [this](Call&& call) { RetryJob(std::move(call)); });
  router.Add({"GET", "/v1/job-types", kViewer},
             [](Call&& call) { Reply(call.responder, 200, protocol::JobTypesJson()); });
  // Agents and tokens.
  router.Add({"GET", "/v1/agents", kViewer}, [this](Call&& call) { ListAgents(std::move(call)); });
  router.Add({"POST", "/v1/agents", kAdmin, kJson},
             [this](Call&& call) { EnrollAgent(std::move(call)); });
  router.Add({"GET", "/v1/agents/{agentId}", kViewer},
             [this](Call&& call) { GetAgent(std::move(call)); });
  router.Add({"DELETE", "/v1/agents/{agentId}", kAdmin},
             [this](Call&& call) { RevokeAgent(std::move(call)); });
  router.Add({"POST", "/v1/tokens", kAdmin, kJson},
             [this](Call&& call) { CreateToken(std::move(call)); });
  router.Add({"DELETE", "/v1/tokens/{id}", kAdmin},
             [this](Call&& call) { RevokeToken(std::move(call)); });
  // Who the caller is: lets a client (the web UI) offer only what its token may do.
  router.Add({"GET", "/v1/whoami", kViewer}, [](Call&& call) {
    Reply(call.responder, 200,
          protocol::ToJson(protocol::Whoami{call.principal->token_id, call.principal->role}));
  });
  // Artifacts.
  router.Add({"PUT", "/v1/artifacts", kOperator, BodyKind::kFile},
             [this](Call&& call) { UploadArtifact(std::move(call)); });
  router.Add({"GET", "/v1/artifacts", kViewer},
             [this](Call&& call) { ListArtifacts(std::move(call)); });
  router.Add({"GET", "/v1/artifacts/{sha256}", RouteClass::kArtifactDownload},
             [this](Call&& call) { DownloadArtifact(std::move(call)); });
  router.Add({"DELETE", "/v1/artifacts/{sha256}", kOperator},
             [this](Call&& call) { DeleteArtifact(std::move(call)); });
}

// ---- Jobs ----

void OperatorApi::CreateJobs(Call&& call) {
  auto request = protocol::FromJson<protocol::CreateJobRequest>(call.request.body);
  if (!request) return ReplyError(call.responder, request.error());
  if (auto valid = protocol::ValidateCreateJob(*request); !valid) {
    return ReplyError(call.responder, valid.error());
  }
  // One agent: straight into the store's write queue. A selector first lists the matching
  // agents, a read, on a worker.
  if (request->agent_id) {
    const std::vector<std::string> agents{*request->agent_id};
    return SubmitJobs(call.responder, *request, agents);
  }
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, request = std::move(*request)] {
                         store::AgentFilter filter;
                         filter.labels = request.selector_labels.value_or(protocol::Labels{});
                         filter.include_revoked = false;
                         auto matching = deps_.store.ListAgents(filter);
                         if (!matching) return ReplyError(responder, matching.error());
                         std::vector<std::string> agents;
                         for (const auto& agent : *matching)
                           agents.push_back(agent.agent_id);
                         SubmitJobs(responder, request, agents);
                       });
}

void OperatorApi::SubmitJobs(const ResponderPtr& responder,
                             const protocol::CreateJobRequest& request,
                             const std::vector<std::string>& agents) {
  store::CreateJobsCommand command;
  command.batch = !request.agent_id.has_value();
  command.idempotency_key = request.idempotency_key;
  command.request_fingerprint = Sha256Hex(protocol::ToJson(request));
  for (const auto& agent_id : agents) {
    store::JobSpec spec;
    spec.agent_id = agent_id;
    spec.type = request.type;
    spec.instance_id = request.instance_id;
    spec.server_id = request.server_id;
    spec.payload_json = request.payload_json;
    spec.priority = request.priority.value_or(0);
    spec.exclusive = request.exclusive.value_or(false);
    spec.max_attempts = request.max_attempts.value_or(protocol::DefaultMaxAttempts(request.type));
    spec.retry_backoff_seconds = request.retry_backoff_seconds.value_or(10);
    spec.timeout_seconds =
        request.timeout_seconds.value_or(protocol::DefaultTimeoutSeconds(request.type));
    spec.not_before = request.not_before;
    spec.depends_on = request.depends_on;
    command.jobs.push_back(std::move(spec));
  }
  const bool batch = command.batch;
  using store::CreatedJobs;
  deps_.calls.OnStore<CreatedJobs>(
      metrics_.store_create_jobs, responder,
      [this, command = std::move(command)](store::Completion<CreatedJobs> done) mutable {
        deps_.store.CreateJobsAsync(std::move(command), deps_.clock.WallNow(), std::move(done));
      },
      [this, responder, batch](Expected<store::Mutation<CreatedJobs>> created) {
        if (!created) return ReplyError(responder, created.error());
        deps_.publisher.Publish(*created);
        const int status = created->value.existing ? 200 : 201;
        for (const auto& job : created->value.jobs) {
          JobLog(GetLogger("fleet-cmdr"), job.id, "")
              .Info("{} {} for agent {}", created->value.existing ? "existing" : "created",
                    job.type, job.agent_id);
        }
        if (batch) {
          protocol::BatchCreated batch_created;
          batch_created.batch_id = created->value.batch_id.value_or("");
          batch_created.jobs = std::move(created->value.jobs);
          return Reply(responder, status, protocol::ToJson(batch_created));
        }
        if (created->value.jobs.empty()) {
          return ReplyError(responder, MakeError(Errc::kInternal, "no job was created"));
        }
        Reply(responder, status, protocol::ToJson(created->value.jobs.front()));
      });
}

void OperatorApi::ListJobs(Call&& call) {
  store::JobFilter filter;
  filter.agent_id = QueryText(call.request, "agentId");
  filter.type = QueryText(call.request, "type");
  filter.instance_id = QueryText(call.request, "instanceId");
  filter.batch_id = QueryText(call.request, "batchId");
  filter.rollout_id = QueryText(call.request, "rolloutId");
  filter.schedule_id = QueryText(call.request, "scheduleId");
  if (auto status = call.request.Query("status")) {
    filter.status = protocol::JobStatusFromString(*status);
    if (!filter.status) {
      return ReplyError(call.responder, InvalidField("status",
                                                     "must be one of CREATED, QUEUED, RUNNING, "
                                                     "COMPLETED, FAILED, CANCELLED"));
    }
  }
  auto limit = QueryInt(call.request, "limit", 1, store::kMaxListLimit);
  if (!limit) return ReplyError(call.responder, limit.error());
  auto cursor = QueryText(call.request, "cursor");
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, filter = std::move(filter),
                        limit = static_cast<int>(limit->value_or(50)), cursor = std::move(cursor)] {
                         auto jobs = deps_.store.ListJobs(filter, limit, cursor);
                         if (!jobs) return ReplyError(responder, jobs.error());
                         Reply(responder, 200, protocol::ToJson(*jobs));
                       });
}

void OperatorApi::GetJob(Call&& call) {
  std::string job_id(call.Param("id"));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, job_id = std::move(job_id)] {
                         auto job = deps_.store.GetJob(job_id);
                         if (!job) return ReplyError(responder, job.error());
                         Reply(responder, 200, protocol::ToJson(*job));
                       });
}

void OperatorApi::GetJobEvents(Call&& call) {
  std::string job_id(call.Param("id"));
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, job_id = std::move(job_id)] {
        auto events = deps_.store.JobEvents(job_id);
        if (!events) return ReplyError(responder, events.error());
        Reply(responder, 200, protocol::ToJson(protocol::EventList{std::move(*events)}));
      });
}

void OperatorApi::GetJobLogs(Call&& call) {
  std::string job_id(call.Param("id"));
  store::LogQuery query;
  query.job_id = job_id;
  query.run_id = QueryText(call.request, "runId");
  auto after = QueryInt(call.request, "after", 0, std::numeric_limits<std::int64_t>::max());
  if (!after) return ReplyError(call.responder, after.error());
  query.after_seq = after->value_or(0);
  auto limit = QueryInt(call.request, "limit", 1, 10000);
  if (!limit) return ReplyError(call.responder, limit.error());
  query.limit = static_cast<int>(limit->value_or(1000));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, query = std::move(query)] {
                         auto logs = deps_.store.ReadLogs(query);
                         if (!logs) return ReplyError(responder, logs.error());
                         Reply(responder, 200, protocol::ToJson(*logs));
                       });
}

void OperatorApi::CancelJob(Call&& call) {
  std::string job_id(call.Param("id"));
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, job_id = std::move(job_id)] {
        auto result = deps_.store.CancelJob(job_id, deps_.clock.WallNow());
        if (!result) return ReplyError(responder, result.error());
        deps_.publisher.Publish(*result);
        const auto& job = result->value.job;
        const bool requested = result->value.outcome == store::CancelOutcome::kRequested;
        JobLog(GetLogger("fleet-cmdr"), job.id, job.current_run_id.value_or(""))
            .Info("{}", requested ? "cancel requested" : "cancelled before it ran");
        Reply(responder, requested ? 202 : 200, protocol::ToJson(job));
      });
}

void OperatorApi::RetryJob(Call&& call) {
  std::string job_id(call.Param("id"));
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, job_id = std::move(job_id)] {
        auto result = deps_.store.RetryJob(job_id, deps_.clock.WallNow());
        if (!result) return ReplyError(responder, result.error());
        deps_.publisher.Publish(*result);
        JobLog(GetLogger("fleet-cmdr"), job_id, "").Info("queued again by an operator");
        Reply(responder, 202, protocol::ToJson(result->value));
      });
}

// ---- Agents and tokens ----

void OperatorApi::ListAgents(Call&& call) {
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder] {
    auto agents = deps_.store.ListAgents(store::AgentFilter{});
    if (!agents) return ReplyError(responder, agents.error());
    protocol::AgentList list;
    list.agents = std::move(*agents);
    for (auto& agent : list.agents)
      agent.online = deps_.presence.IsOnline(agent);
    Reply(responder, 200, protocol::ToJson(list));
  });
}

void OperatorApi::GetAgent(Call&& call) {
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, agent_id = std::move(agent_id)] {
                         auto agent = deps_.store.GetAgent(agent_id);
                         if (!agent) return ReplyError(responder, agent.error());
                         agent->online = deps_.presence.IsOnline(*agent);
                         Reply(responder, 200, protocol::ToJson(*agent));
                       });
}

void OperatorApi::EnrollAgent(Call&& call) {
  auto request = protocol::FromJson<protocol::EnrollRequest>(call.request.body);
  if (!request) return ReplyError(call.responder, request.error());
  if (!IsValidName(request->agent_id)) {
    return ReplyError(call.responder,
                      InvalidField("agentId", "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"));
  }
  // The labels selectors match: what a selector could not name is refused here.
  if (auto valid = protocol::ValidateLabels("labels", request->labels); !valid) {
    return ReplyError(call.responder, valid.error());
  }
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, request = std::move(*request)] {
        const auto now = deps_.clock.WallNow();
        const auto token = GenerateToken();
        store::TokenRecord record;
        record.id = deps_.ids.Next();
        record.name = "agent " + request.agent_id;
        record.role = protocol::Role::kAgent;
        record.agent_id = request.agent_id;
        record.token_hash = HashToken(token);
        record.created_at = now;
        auto enrolled = deps_.store.EnrollAgent(request.agent_id, request.labels, record, now);
        if (!enrolled) return ReplyError(responder, enrolled.error());
        deps_.tokens.Add(record.token_hash,
                         Principal{record.id, protocol::Role::kAgent, request.agent_id});
        deps_.publisher.Publish(*enrolled);
        GetLogger("fleet-cmdr")->info("agentId={} enrolled", request.agent_id);
        Reply(responder, 201, protocol::ToJson(protocol::EnrollResponse{request.agent_id, token}));
      });
}

void OperatorApi::RevokeAgent(Call&& call) {
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, agent_id = std::move(agent_id)] {
                         auto revoked = deps_.store.RevokeAgent(agent_id, deps_.clock.WallNow());
                         if (!revoked) return ReplyError(responder, revoked.error());
                         deps_.tokens.RemoveAgent(agent_id);
                         deps_.publisher.Publish(*revoked);
                         GetLogger("fleet-cmdr")->info("agentId={} revoked", agent_id);
                         ReplyNoContent(responder);
                       });
}

void OperatorApi::CreateToken(Call&& call) {
  auto request = protocol::FromJson<protocol::TokenCreateRequest>(call.request.body);
  if (!request) return ReplyError(call.responder, request.error());
  if (request->role == protocol::Role::kAgent) {
    return ReplyError(call.responder,
                      InvalidField("role",
                                   "must be viewer, operator or admin (agent tokens come "
                                   "from POST /v1/agents)"));
  }
  if (request->name.empty() || request->name.size() > 128) {
    return ReplyError(call.responder, InvalidField("name", "must be 1 to 128 characters"));
  }
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, request = std::move(*request)] {
        const auto token = GenerateToken();
        store::TokenRecord record;
        record.id = deps_.ids.Next();
        record.name = request.name;
        record.role = request.role;
        record.token_hash = HashToken(token);
        record.created_at = deps_.clock.WallNow();
        auto created = deps_.store.CreateToken(record);
        if (!created) return ReplyError(responder, created.error());
        deps_.tokens.Add(record.token_hash, Principal{record.id, record.role, std::nullopt});
        GetLogger("fleet-cmdr")
            ->info("token {} created: role {} name {}", record.id, protocol::ToString(record.role),
                   record.name);
        Reply(responder, 201, protocol::ToJson(protocol::TokenCreated{record.id, token}));
      });
}

void OperatorApi::RevokeToken(Call&& call) {
  std::string token_id(call.Param("id"));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, token_id = std::move(token_id)] {
                         auto revoked = deps_.store.RevokeToken(token_id, deps_.clock.WallNow());
                         if (!revoked) return ReplyError(responder, revoked.error());
                         deps_.tokens.RemoveById(token_id);
                         GetLogger("fleet-cmdr")->info("token {} revoked", token_id);
                         ReplyNoContent(responder);
                       });
}

// ---- Metrics and readiness ----

void OperatorApi::Ready(Call&& call) {
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder] {
    auto seq = deps_.store.LastEventSeq();
    if (!seq) {
      // Not ready whatever the store's error; its words stay in the log (ErrorResponse).
      Error error = seq.error();
      error.code = Errc::kStore;
      error.retryable = true;
      return ReplyError(responder, error);
    }
    Reply(responder, 200, R"({"status":"ready"})");
  });
}

// Every pair is set, zeros included, so a status that emptied does not keep its count. Under
// jobs_by_status_mutex_.
void OperatorApi::SetJobCounts(const std::vector<store::JobCount>& counts) {
  for (const auto& type : protocol::AllJobTypes()) {
    for (const auto status : {protocol::JobStatus::kCreated, protocol::JobStatus::kQueued,
                              protocol::JobStatus::kRunning, protocol::JobStatus::kCompleted,
                              protocol::JobStatus::kFailed, protocol::JobStatus::kCancelled}) {
      metrics_.jobs_by_status
          .With({std::string(type.name), std::string(protocol::ToString(status))})
          .Set(0);
    }
  }
  for (const auto& count : counts) {
    metrics_.jobs_by_status.With({count.type, std::string(protocol::ToString(count.status))})
        .Set(static_cast<double>(count.count));
  }
}

void OperatorApi::RenderMetrics(Call&& call) {
  // Jobs by type and status come from the store (the truth when replicas share it), on a worker.
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder] {
    auto counts = deps_.store.CountJobs();
    // The store down is when the other metrics matter most: they are rendered all the same,
    // fleet_cmdr_store_up says 0 and the job counts keep their last values.
    const std::lock_guard lock(jobs_by_status_mutex_);
    metrics_.store_up.Set(counts ? 1 : 0);
    if (counts) {
      SetJobCounts(*counts);
    } else {
      GetLogger("fleet-cmdr")->debug("metrics: job counts not read: {}", counts.error().Describe());
    }
    HttpResponse response;
    response.content_type = std::string(kPrometheusContentType);
    response.body = metrics_.registry.RenderPrometheus();
    responder->Send(std::move(response));
  });
}

}  // namespace orb::server
