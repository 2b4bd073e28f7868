#pragma once

// The operator API of docs/protocol.md §5: jobs (create, list, get, events,
// logs, cancel, retry), agents (list, get, enroll, revoke), tokens (create, revoke), artifacts
// (content-addressed files under <data-dir>/artifacts: upload, download with Range, list, delete;
// operator_artifacts.cpp), the job-type
// registry, /metrics, and the public routes (/healthz, /readyz, the web UI).
//
// Creating jobs for one agent is an asynchronous store call (AsyncCalls::OnStore); everything else
// runs on the worker pool (AsyncCalls::OnWorker). Creating and revoking tokens keeps the
// TokenCache current, so the next request sees the change.
//
// Thread-safety: handlers run on the HTTP server's loops and answer from any thread. Ownership:
// holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "protocol/types.hpp"
#include "server/artifact_copies.hpp"
#include "server/async_calls.hpp"
#include "server/auth.hpp"
#include "server/call.hpp"
#include "server/event_publisher.hpp"
#include "server/metrics.hpp"
#include "server/presence.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class OperatorApi {
 public:
  struct Metrics {
    MetricsRegistry& registry;      // rendered by GET /metrics
    Family<Gauge>& jobs_by_status;  // type, status: refreshed from the store on each render
    Histogram& store_create_jobs;   // the asynchronous create's store latency
    Gauge& store_up;                // 1 when the last render read the store, else 0
  };
  struct Deps {
    store::Store& store;
    TokenCache& tokens;
    IdGenerator& ids;  // token ids
    Presence& presence;
    EventPublisher& publisher;
    AsyncCalls& calls;
    const Clock& clock;
  };

  // `artifact_dir` exists (FleetCmdr makes it). `artifacts_in_store`: replicas share a store, so
  // artifacts live in it (Store::PutArtifact, ReadArtifact; docs/decisions/0016) and
  // artifact_dir only caches them (content-addressed, so a cached copy never goes stale).
  OperatorApi(std::filesystem::path artifact_dir, Deps deps, Metrics metrics,
              bool artifacts_in_store = false);
  OperatorApi(const OperatorApi&) = delete;
  OperatorApi& operator=(const OperatorApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  // Jobs.
  void CreateJobs(Call&& call);
  // Creates the request's jobs for `agents` (validated request; selector already resolved).
  void SubmitJobs(const ResponderPtr& responder, const protocol::CreateJobRequest& request,
                  const std::vector<std::string>& agents);
  void ListJobs(Call&& call);
  void GetJob(Call&& call);
  void GetJobEvents(Call&& call);
  void GetJobLogs(Call&& call);
  void CancelJob(Call&& call);
  void RetryJob(Call&& call);
  // Agents and tokens.
  void ListAgents(Call&& call);
  void GetAgent(Call&& call);
  void EnrollAgent(Call&& call);
  void RevokeAgent(Call&& call);
  void CreateToken(Call&& call);
  void RevokeToken(Call&& call);
  // Artifacts.
  void UploadArtifact(Call&& call);
  void DownloadArtifact(Call&& call);
  // GET /v1/artifacts; DELETE /v1/artifacts/{sha256} (409 while an unfinished job names it).
  void ListArtifacts(Call&& call);
  void DeleteArtifact(Call&& call);
  // Metrics, readiness, the UI.
  void RenderMetrics(Call&& call);
  void SetJobCounts(const std::vector<store::JobCount>& counts);
  void Ready(Call&& call);

  const std::filesystem::path artifact_dir_;
  const bool artifacts_in_store_;
  Deps deps_;
  Metrics metrics_;
  std::mutex jobs_by_status_mutex_;  // one refresh + render at a time
  ArtifactCopies copies_;  // with artifacts_in_store_: the store's artifacts into artifact_dir_
};

}  // namespace orb::server
