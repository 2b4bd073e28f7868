// The operator API of protocol.md §5: jobs, agents, tokens, artifacts, metrics and readiness.

#include <cstdio>
#include <fstream>
#include <system_error>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "protocol/codec.hpp"
#include "protocol/job_types.hpp"
#include "protocol/validate_job.hpp"
#include "server/fleet_cmdr_impl.hpp"

namespace orb::server {
namespace {

Error InvalidField(std::string field, std::string problem) {
  Error error = MakeError(Errc::kInvalidRequest, field + ": " + problem);
  error.details.push_back({std::move(field), std::move(problem)});
  return error;
}

std::optional<std::string> QueryText(const HttpRequest& request, std::string_view key) {
  if (auto value = request.Query(key)) return std::string(*value);
  return std::nullopt;
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

// ---- Jobs ----

void FleetCmdr::Impl::CreateJobs(Call call) {
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
  OnWorker(call.responder, [this, responder = call.responder, request = std::move(*request)] {
    store::AgentFilter filter;
    filter.labels = request.selector_labels.value_or(protocol::Labels{});
    filter.include_revoked = false;
    auto matching = store_->ListAgents(filter);
    if (!matching) return ReplyError(responder, matching.error());
    std::vector<std::string> agents;
    for (const auto& agent : *matching)
      agents.push_back(agent.agent_id);
    SubmitJobs(responder, request, agents);
  });
}

void FleetCmdr::Impl::SubmitJobs(const ResponderPtr& responder,
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
    command.jobs.push_back(std::move(spec));
  }
  const bool batch = command.batch;
  using store::CreatedJobs;
  OnStore<CreatedJobs>(
      *store_create_jobs_, responder,
      [this, command = std::move(command)](store::Completion<CreatedJobs> done) mutable {
        store_->CreateJobsAsync(std::move(command), clock_.WallNow(), std::move(done));
      },
      [this, responder, batch](Expected<store::Mutation<CreatedJobs>> created) {
        if (!created) return ReplyError(responder, created.error());
        Publish(*created);
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

void FleetCmdr::Impl::ListJobs(Call call) {
  store::JobFilter filter;
  filter.agent_id = QueryText(call.request, "agentId");
  filter.type = QueryText(call.request, "type");
  filter.instance_id = QueryText(call.request, "instanceId");
  filter.batch_id = QueryText(call.request, "batchId");
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
  OnWorker(call.responder,
           [this, responder = call.responder, filter = std::move(filter),
            limit = static_cast<int>(limit->value_or(50)), cursor = std::move(cursor)] {
             auto jobs = store_->ListJobs(filter, limit, cursor);
             if (!jobs) return ReplyError(responder, jobs.error());
             Reply(responder, 200, protocol::ToJson(*jobs));
           });
}

void FleetCmdr::Impl::GetJob(Call call, const std::string& job_id) {
  OnWorker(call.responder, [this, responder = call.responder, job_id] {
    auto job = store_->GetJob(job_id);
    if (!job) return ReplyError(responder, job.error());
    Reply(responder, 200, protocol::ToJson(*job));
  });
}

void FleetCmdr::Impl::GetJobEvents(Call call, const std::string& job_id) {
  OnWorker(call.responder, [this, responder = call.responder, job_id] {
    auto events = store_->JobEvents(job_id);
    if (!events) return ReplyError(responder, events.error());
    Reply(responder, 200, protocol::ToJson(protocol::EventList{std::move(*events)}));
  });
}

void FleetCmdr::Impl::GetJobLogs(Call call, const std::string& job_id) {
  store::LogQuery query;
  query.job_id = job_id;
  query.run_id = QueryText(call.request, "runId");
  auto after = QueryInt(call.request, "after", 0, std::numeric_limits<std::int64_t>::max());
  if (!after) return ReplyError(call.responder, after.error());
  query.after_seq = after->value_or(0);
  auto limit = QueryInt(call.request, "limit", 1, 10000);
  if (!limit) return ReplyError(call.responder, limit.error());
  query.limit = static_cast<int>(limit->value_or(1000));
  OnWorker(call.responder, [this, responder = call.responder, query = std::move(query)] {
    auto logs = store_->ReadLogs(query);
    if (!logs) return ReplyError(responder, logs.error());
    Reply(responder, 200, protocol::ToJson(*logs));
  });
}

void FleetCmdr::Impl::CancelJob(Call call, const std::string& job_id) {
  OnWorker(call.responder, [this, responder = call.responder, job_id] {
    auto result = store_->CancelJob(job_id, clock_.WallNow());
    if (!result) return ReplyError(responder, result.error());
    Publish(*result);
    const auto& job = result->value.job;
    const bool requested = result->value.outcome == store::CancelOutcome::kRequested;
    JobLog(GetLogger("fleet-cmdr"), job.id, job.current_run_id.value_or(""))
        .Info("{}", requested ? "cancel requested" : "cancelled before it ran");
    Reply(responder, requested ? 202 : 200, protocol::ToJson(job));
  });
}

void FleetCmdr::Impl::RetryJob(Call call, const std::string& job_id) {
  OnWorker(call.responder, [this, responder = call.responder, job_id] {
    auto result = store_->RetryJob(job_id, clock_.WallNow());
    if (!result) return ReplyError(responder, result.error());
    Publish(*result);
    JobLog(GetLogger("fleet-cmdr"), job_id, "").Info("queued again by an operator");
    Reply(responder, 202, protocol::ToJson(result->value));
  });
}

// ---- Agents and tokens ----

bool FleetCmdr::Impl::IsOnline(const protocol::AgentInfo& agent) const {
  auto last = agent.last_seen_at;
  {
    const std::lock_guard lock(presence_mutex_);
    if (auto it = presence_.find(agent.agent_id); it != presence_.end()) {
      if (!last || it->second.last_seen > *last) last = it->second.last_seen;
    }
  }
  if (!last || agent.revoked) return false;
  return clock_.WallNow() - *last <= std::chrono::seconds(3 * options_.long_poll_seconds);
}

void FleetCmdr::Impl::ListAgents(Call call) {
  OnWorker(call.responder, [this, responder = call.responder] {
    auto agents = store_->ListAgents(store::AgentFilter{});
    if (!agents) return ReplyError(responder, agents.error());
    protocol::AgentList list;
    list.agents = std::move(*agents);
    for (auto& agent : list.agents)
      agent.online = IsOnline(agent);
    Reply(responder, 200, protocol::ToJson(list));
  });
}

void FleetCmdr::Impl::GetAgent(Call call, const std::string& agent_id) {
  OnWorker(call.responder, [this, responder = call.responder, agent_id] {
    auto agent = store_->GetAgent(agent_id);
    if (!agent) return ReplyError(responder, agent.error());
    agent->online = IsOnline(*agent);
    Reply(responder, 200, protocol::ToJson(*agent));
  });
}

void FleetCmdr::Impl::EnrollAgent(Call call) {
  auto request = protocol::FromJson<protocol::EnrollRequest>(call.request.body);
  if (!request) return ReplyError(call.responder, request.error());
  if (!IsValidName(request->agent_id)) {
    return ReplyError(call.responder,
                      InvalidField("agentId", "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"));
  }
  OnWorker(call.responder, [this, responder = call.responder, request = std::move(*request)] {
    const auto now = clock_.WallNow();
    const auto token = GenerateToken();
    store::TokenRecord record;
    record.id = ids_.Next();
    record.name = "agent " + request.agent_id;
    record.role = protocol::Role::kAgent;
    record.agent_id = request.agent_id;
    record.token_hash = HashToken(token);
    record.created_at = now;
    auto enrolled = store_->EnrollAgent(request.agent_id, request.labels, record, now);
    if (!enrolled) return ReplyError(responder, enrolled.error());
    tokens_.Add(record.token_hash, Principal{record.id, protocol::Role::kAgent, request.agent_id});
    Publish(*enrolled);
    GetLogger("fleet-cmdr")->info("agentId={} enrolled", request.agent_id);
    Reply(responder, 201, protocol::ToJson(protocol::EnrollResponse{request.agent_id, token}));
  });
}

void FleetCmdr::Impl::RevokeAgent(Call call, const std::string& agent_id) {
  OnWorker(call.responder, [this, responder = call.responder, agent_id] {
    auto revoked = store_->RevokeAgent(agent_id, clock_.WallNow());
    if (!revoked) return ReplyError(responder, revoked.error());
    tokens_.RemoveAgent(agent_id);
    Publish(*revoked);
    GetLogger("fleet-cmdr")->info("agentId={} revoked", agent_id);
    ReplyNoContent(responder);
  });
}

void FleetCmdr::Impl::CreateToken(Call call) {
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
  OnWorker(call.responder, [this, responder = call.responder, request = std::move(*request)] {
    const auto token = GenerateToken();
    store::TokenRecord record;
    record.id = ids_.Next();
    record.name = request.name;
    record.role = request.role;
    record.token_hash = HashToken(token);
    record.created_at = clock_.WallNow();
    auto created = store_->CreateToken(record);
    if (!created) return ReplyError(responder, created.error());
    tokens_.Add(record.token_hash, Principal{record.id, record.role, std::nullopt});
    GetLogger("fleet-cmdr")
        ->info("token {} created: role {} name {}", record.id, protocol::ToString(record.role),
               record.name);
    Reply(responder, 201, protocol::ToJson(protocol::TokenCreated{record.id, token}));
  });
}

void FleetCmdr::Impl::RevokeToken(Call call, const std::string& token_id) {
  OnWorker(call.responder, [this, responder = call.responder, token_id] {
    auto revoked = store_->RevokeToken(token_id, clock_.WallNow());
    if (!revoked) return ReplyError(responder, revoked.error());
    tokens_.RemoveById(token_id);
    GetLogger("fleet-cmdr")->info("token {} revoked", token_id);
    ReplyNoContent(responder);
  });
}

// ---- Artifacts: content-addressed files under <data-dir>/artifacts ----

void FleetCmdr::Impl::UploadArtifact(Call call) {
  OnWorker(call.responder, [this, call = std::move(call)] {
    std::filesystem::path upload;
    if (call.request.body_file) {
      upload = *call.request.body_file;
    } else {
      // A body that was not streamed (the upload was small or had no Content-Length).
      upload = artifact_dir_ / (".upload-" + RandomHex(8));
      std::ofstream out(upload, std::ios::binary);
      out.write(call.request.body.data(), static_cast<std::streamsize>(call.request.body.size()));
      if (!out) return ReplyError(call.responder, MakeError(Errc::kIo, "cannot write upload"));
    }
    Sha256 hash;
    {
      std::ifstream in(upload, std::ios::binary);
      std::vector<char> buffer(1 << 16);
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        if (in.gcount() > 0) hash.Update(buffer.data(), static_cast<std::size_t>(in.gcount()));
      }
      if (in.bad()) {
        std::error_code ignored;
        std::filesystem::remove(upload, ignored);
        return ReplyError(call.responder, MakeError(Errc::kIo, "cannot read upload"));
      }
    }
    const auto size = hash.bytes();
    const auto sha = hash.FinishHex();
    const auto target = artifact_dir_ / sha;
    std::error_code ec;
    int status = 201;
    if (std::filesystem::exists(target, ec)) {
      std::filesystem::remove(upload, ec);
      status = 200;
    } else {
      std::filesystem::rename(upload, target, ec);
      if (ec) {
        std::filesystem::remove(upload, ec);
        return ReplyError(call.responder, MakeError(Errc::kIo, "cannot store artifact"));
      }
    }
    GetLogger("fleet-cmdr")
        ->info("artifact {} ({} bytes) {}", sha, size,
               status == 201 ? "stored" : "already present");
    Reply(call.responder, status,
          protocol::ToJson(protocol::ArtifactInfo{sha, size, "/v1/artifacts/" + sha}));
  });
}

void FleetCmdr::Impl::DownloadArtifact(Call call, const std::string& sha256) {
  if (!IsSha256Hex(sha256)) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no artifact " + sha256));
  }
  const auto path = artifact_dir_ / sha256;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no artifact " + sha256));
  }
  HttpResponse response;
  response.content_type = "application/octet-stream";
  response.file = path;
  response.headers.push_back({"ETag", "\"" + sha256 + "\""});
  call.responder->Send(std::move(response));
}

}  // namespace orb::server
