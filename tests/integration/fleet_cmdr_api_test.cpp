// fleet-cmdr over real HTTP on 127.0.0.1:0 with SQLite in a temporary data dir.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "integration/test_cluster.hpp"
#include "net/ws_client.hpp"
#include "protocol/codec.hpp"
#include "protocol/stats_history.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

const std::vector<std::string> kAllTypes = {"INSTALL_SERVER",  "UPDATE_SERVER", "ACTIVATE_BUILD",
                                            "START_INSTANCE",  "STOP_INSTANCE", "RESTART_INSTANCE",
                                            "BACKUP_INSTANCE", "VERIFY_BACKUP", "RESTORE_BACKUP",
                                            "PRUNE_BACKUPS",   "SYNC_MODS"};

std::string Backup(const std::string& agent, const std::string& instance,
                   const std::string& extra = "") {
  return JobBody(agent, "BACKUP_INSTANCE", instance, "{}", extra);
}

TEST(FleetCmdrApiTest, HealthAndReadinessNeedNoToken) {
  TestCluster cluster;
  ApiClient anonymous(cluster.port(), std::nullopt);
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(anonymous.Get("/readyz").status, 200);
  auto ui = anonymous.Get("/");
  EXPECT_EQ(ui.status, 200);
  EXPECT_NE(ui.body.find("orb-jobs"), std::string::npos);
}

TEST(FleetCmdrApiTest, TheJobTypeRegistryIsReadableByViewersOnly) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  ApiClient viewer(cluster.port(), cluster.CreateToken("viewer"));
  ApiClient anonymous(cluster.port(), std::nullopt);
  auto types = viewer.Get("/v1/job-types");
  ASSERT_EQ(types.status, 200) << types.body;
  EXPECT_NE(types.body.find(R"("name":"PRUNE_BACKUPS")"), std::string::npos);
  EXPECT_NE(types.body.find(R"("notCancellableReason":")"), std::string::npos);
  EXPECT_EQ(anonymous.Get("/v1/job-types").status, 401);
  EXPECT_EQ(agent.client().Get("/v1/job-types").status, 403);
  EXPECT_EQ(viewer.Post("/v1/job-types").status, 405);
}

TEST(FleetCmdrApiTest, WhoamiNamesTheCallersRoleAndToken) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  ApiClient viewer(cluster.port(), cluster.CreateToken("viewer"));
  ApiClient operator_client(cluster.port(), cluster.CreateToken("operator"));
  ApiClient anonymous(cluster.port(), std::nullopt);
  std::set<std::string> token_ids;
  for (auto [client, role] :
       {std::pair<ApiClient*, protocol::Role>{&viewer, protocol::Role::kViewer},
        {&operator_client, protocol::Role::kOperator},
        {&cluster.admin(), protocol::Role::kAdmin}}) {
    auto reply = client->Get("/v1/whoami");
    ASSERT_EQ(reply.status, 200) << reply.body;
    auto whoami = protocol::FromJson<protocol::Whoami>(reply.body);
    ASSERT_TRUE(whoami.has_value()) << reply.body;
    EXPECT_EQ(whoami->role, role) << reply.body;
    EXPECT_FALSE(whoami->token_id.empty());
    token_ids.insert(whoami->token_id);
  }
  EXPECT_EQ(token_ids.size(), 3u);  // each token its own id
  EXPECT_EQ(anonymous.Get("/v1/whoami").status, 401);
  EXPECT_EQ(agent.client().Get("/v1/whoami").status, 403);
}

TEST(FleetCmdrApiTest, EveryErrorOfTheSpecTableIsReachableAndLeavesTheServerHealthy) {
  auto options = TestCluster::DefaultOptions();
  options.rate_limit_per_second = 1;
  options.rate_limit_burst = 1000;
  TestCluster cluster(options);
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto& admin = cluster.admin();
  ApiClient anonymous(cluster.port(), std::nullopt);
  ApiClient viewer(cluster.port(), cluster.CreateToken("viewer"));
  ApiClient bogus(cluster.port(), std::string("not-a-real-token-at-all"));

  auto expect = [&](const Reply& reply, int status, const std::string& code) {
    EXPECT_EQ(reply.status, status) << reply.body;
    EXPECT_EQ(reply.error_code, code) << reply.body;
    EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  };
  expect(admin.Post("/v1/jobs", "{not json"), 400, "invalid_json");
  expect(admin.Post("/v1/jobs", R"({"agentId":"orb-1"})"), 400, "invalid_request");
  expect(admin.Post("/v1/jobs", JobBody("orb-1", "PRUNE_BACKUPS", "mc-1", R"({"keepLast":0})")),
         400, "invalid_payload");
  expect(admin.Post("/v1/jobs", JobBody("orb-1", "FORMAT_DISK", "mc-1")), 400, "unknown_job_type");
  // protocol.md §3: any type but a known one, the empty string included, is unknown_job_type; a
  // payload that is not an object is a payload problem.
  expect(admin.Post("/v1/jobs", JobBody("orb-1", "", "mc-1")), 400, "unknown_job_type");
  expect(admin.Post("/v1/jobs", JobBody("orb-1", "PRUNE_BACKUPS", "mc-1", "[1]")), 400,
         "invalid_payload");
  expect(admin.Post("/v1/jobs", JobBody("orb-1", "PRUNE_BACKUPS", "mc-1", R"("keepLast")")), 400,
         "invalid_payload");
  expect(anonymous.Get("/v1/jobs"), 401, "unauthenticated");
  expect(bogus.Get("/v1/jobs"), 401, "unauthenticated");
  expect(viewer.Post("/v1/jobs", Backup("orb-1", "mc-1")), 403, "forbidden");
  expect(agent.client().Get("/v1/jobs"), 403, "forbidden");
  expect(admin.Get("/v1/jobs/0190a0a0-0000-7000-8000-000000000000"), 404, "not_found");
  expect(admin.Get("/v1/nothing-here"), 404, "not_found");
  expect(admin.Call("DELETE", "/v1/jobs"), 405, "method_not_allowed");

  auto queued = cluster.Enqueue(Backup("orb-1", "mc-1"));
  expect(admin.Post("/v1/jobs/" + queued.id + "/retry"), 409, "invalid_state");
  auto stop = cluster.Enqueue(JobBody("orb-1", "STOP_INSTANCE", "mc-2"));
  (void)stop;
  auto first = agent.NextJob();
  ASSERT_TRUE(first);
  auto second = agent.NextJob();
  ASSERT_TRUE(second);
  const auto& stop_run = first->type == "STOP_INSTANCE" ? *first : *second;
  auto not_cancellable = admin.Post("/v1/jobs/" + stop_run.job_id + "/cancel");
  expect(not_cancellable, 409, "not_cancellable");
  EXPECT_NE(not_cancellable.body.find("stop"), std::string::npos) << not_cancellable.body;
  EXPECT_EQ(agent.Complete(stop_run.run_id).status, 200);
  expect(
      agent.Update(
          stop_run.run_id,
          R"({"updates":[],"logs":[{"seq":999,"timestamp":"2026-11-22T10:00:00.000Z","level":"info","message":"late"}]})"),
      409, "run_not_active");
  expect(admin.Post("/v1/jobs", Backup("orb-1", "mc-3", R"("idempotencyKey":"k1")")).status == 201
             ? admin.Post("/v1/jobs", Backup("orb-1", "mc-4", R"("idempotencyKey":"k1")"))
             : Reply{},
         409, "idempotency_conflict");
  expect(admin.Post("/v1/agents", R"({"agentId":"orb-1"})"), 409, "already_exists");
  expect(admin.Post("/v1/jobs", std::string(2 << 20, ' ')), 413, "payload_too_large");
  expect(admin.Call("POST", "/v1/jobs", Backup("orb-1", "mc-1"), std::nullopt, "text/plain"), 415,
         "unsupported_media_type");
  // 429: the viewer's bucket (1 per second after a burst of 1000) runs dry.
  Reply limited;
  for (int i = 0; i < 1100 && limited.status != 429; ++i)
    limited = viewer.Get("/v1/agents");
  expect(limited, 429, "rate_limited");
  ASSERT_TRUE(limited.retry_after.has_value());
}

TEST(FleetCmdrApiTest, AnAgentTokenOnlyReachesItsOwnAgentPaths) {
  TestCluster cluster;
  auto& one = cluster.StartAgent("orb-1", kAllTypes);
  cluster.StartAgent("orb-2", kAllTypes);
  auto reply = one.client().Post("/v1/agents/orb-2/jobs/next", R"({"running":[]})");
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(reply.error_code, "forbidden");
  EXPECT_EQ(one.client().Get("/v1/agents/orb-2/notify?wait=0").status, 403);
  // And a run of another agent is forbidden too.
  auto job = cluster.Enqueue(Backup("orb-2", "mc-1"));
  (void)job;
}

TEST(FleetCmdrApiTest, ARunOfAnotherAgentCannotBeUpdated) {
  TestCluster cluster;
  auto& one = cluster.StartAgent("orb-1", kAllTypes);
  auto& two = cluster.StartAgent("orb-2", kAllTypes);
  cluster.Enqueue(Backup("orb-2", "mc-1"));
  auto run = two.NextJob();
  ASSERT_TRUE(run);
  auto reply = one.Update(run->run_id, R"({"updates":[],"logs":[]})");
  EXPECT_EQ(reply.status, 403) << reply.body;
}

TEST(FleetCmdrApiTest, AJobGoesThroughItsWholeLifecycle) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1"));
  EXPECT_EQ(job.status, protocol::JobStatus::kQueued);
  EXPECT_EQ(job.max_attempts, 3);  // BACKUP_INSTANCE's default
  EXPECT_EQ(job.timeout_seconds, 7200);

  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(run->job_id, job.id);
  EXPECT_EQ(run->attempt, 1);
  EXPECT_TRUE(run->cancellable);
  EXPECT_EQ(cluster.Status(job.id), "RUNNING");
  EXPECT_EQ(agent.Next().status, 204);  // the instance lock keeps nothing else waiting anyway

  auto progress = agent.Update(
      run->run_id,
      R"({"updates":[{"seq":1,"status":"RUNNING","percent":42,"message":"archiving","step":"archive","timestamp":"2026-11-22T10:00:00.000Z"}],
      "logs":[{"seq":1,"timestamp":"2026-11-22T10:00:00.000Z","level":"info","message":"started"}]})");
  EXPECT_EQ(progress.status, 200) << progress.body;
  EXPECT_EQ(agent.Complete(run->run_id, 2, R"({"backupId":"b1","bytes":10})").status, 200);
  auto done = cluster.Job(job.id);
  EXPECT_EQ(done.status, protocol::JobStatus::kCompleted);
  EXPECT_EQ(done.result_json.value_or(""), R"({"backupId":"b1","bytes":10})");

  auto events = cluster.admin().Get("/v1/jobs/" + job.id + "/events");
  auto list = protocol::FromJson<protocol::EventList>(events.body);
  ASSERT_TRUE(list) << events.body;
  std::vector<std::string> types;
  for (const auto& event : list->events)
    types.emplace_back(protocol::ToString(event.type));
  EXPECT_EQ(types, (std::vector<std::string>{"job.created", "job.queued", "job.running",
                                             "job.progress", "job.completed"}));
  auto logs = cluster.admin().Get("/v1/jobs/" + job.id + "/logs");
  EXPECT_NE(logs.body.find("started"), std::string::npos) << logs.body;

  // COMPLETED is final.
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + job.id + "/cancel").error_code, "invalid_state");
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + job.id + "/retry").error_code, "invalid_state");
}

TEST(FleetCmdrApiTest, ARetryableFailureIsRetriedAutomaticallyAfterItsBackoff) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1", R"("retryBackoffSeconds":1,"maxAttempts":2)"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(agent.Fail(run->run_id, /*retryable=*/true).status, 200);
  EXPECT_EQ(cluster.Status(job.id), "CREATED");
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job.id) == "QUEUED"; }, 5s));
  auto second = agent.NextJob();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->attempt, 2);
  EXPECT_NE(second->run_id, run->run_id);
  EXPECT_EQ(agent.Fail(second->run_id, true).status, 200);
  EXPECT_EQ(cluster.Status(job.id), "FAILED");  // maxAttempts reached
  auto failed = cluster.Job(job.id);
  ASSERT_TRUE(failed.last_error);
  EXPECT_EQ(failed.last_error->code, "network_error");

  // A manual retry queues it again; the next dispatch makes a new run.
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + job.id + "/retry").status, 202);
  EXPECT_EQ(cluster.Status(job.id), "QUEUED");
  auto third = agent.NextJob();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->attempt, 3);
}

TEST(FleetCmdrApiTest, ANonRetryableFailureIsFinal) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(agent.Fail(run->run_id, false).status, 200);
  EXPECT_EQ(cluster.Status(job.id), "FAILED");
}

TEST(FleetCmdrApiTest, CancelBeforeItRunsAndWhileItRuns) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto queued = cluster.Enqueue(Backup("orb-1", "mc-1", R"("priority":-5)"));
  auto cancelled = cluster.admin().Post("/v1/jobs/" + queued.id + "/cancel");
  EXPECT_EQ(cancelled.status, 200);
  EXPECT_EQ(cluster.Status(queued.id), "CANCELLED");

  auto running = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + running.id + "/cancel").status, 202);
  EXPECT_TRUE(cluster.Job(running.id).cancel_requested);
  // JobCancel reaches the agent through notify and through the updates response.
  auto notify = agent.Notify(0);
  auto state = protocol::FromJson<protocol::NotifyResponse>(notify.body);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->cancel, std::vector<std::string>{run->run_id});
  auto heartbeat = agent.Update(run->run_id, R"({"updates":[],"logs":[]})");
  EXPECT_NE(heartbeat.body.find("\"cancelRequested\":true"), std::string::npos) << heartbeat.body;
  EXPECT_EQ(
      agent
          .Update(
              run->run_id,
              R"({"updates":[],"logs":[],"final":{"seq":1,"status":"CANCELLED","timestamp":"2026-11-22T10:00:00.000Z"}})")
          .status,
      200);
  EXPECT_EQ(cluster.Status(running.id), "CANCELLED");
  // Retry of a cancelled job.
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + running.id + "/retry").status, 202);
  EXPECT_EQ(cluster.Status(running.id), "QUEUED");
}

TEST(FleetCmdrApiTest, NotBeforeKeepsAJobCreatedUntilItsTime) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  const auto when = FormatTimestamp(std::chrono::system_clock::now() + 1500ms);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1", fmt::format(R"("notBefore":"{}")", when)));
  EXPECT_EQ(job.status, protocol::JobStatus::kCreated);
  EXPECT_EQ(agent.Next().status, 204);
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job.id) == "QUEUED"; }, 5s));
  EXPECT_TRUE(agent.NextJob());
}

TEST(FleetCmdrApiTest, DispatchRuleEndToEnd) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes, 8);
  // Two jobs on one instance never run together; another instance runs beside them.
  auto a1 = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto a2 = cluster.Enqueue(JobBody("orb-1", "RESTART_INSTANCE", "mc-1"));
  auto b1 = cluster.Enqueue(Backup("orb-1", "mc-2"));
  auto high = cluster.Enqueue(Backup("orb-1", "mc-3", R"("priority":50)"));
  auto first = agent.NextJob();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->job_id, high.id);  // priority first
  auto second = agent.NextJob();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->job_id, a1.id);  // then FIFO
  auto third = agent.NextJob();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->job_id, b1.id);  // a2 waits for a1 (same instance), b1 may go ahead
  EXPECT_EQ(agent.Next().status, 204);
  EXPECT_EQ(agent.Complete(second->run_id).status, 200);
  auto fourth = agent.NextJob();
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->job_id, a2.id);

  // An exclusive job waits for everything running and runs alone.
  auto exclusive = cluster.Enqueue(Backup("orb-1", "mc-9", R"("exclusive":true)"));
  auto later = cluster.Enqueue(Backup("orb-1", "mc-10"));
  EXPECT_EQ(agent.Next().status, 204);
  for (const auto& run : {*first, *third, *fourth})
    EXPECT_EQ(agent.Complete(run.run_id).status, 200);
  auto alone = agent.NextJob();
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->job_id, exclusive.id);
  EXPECT_EQ(agent.Next().status, 204);  // `later` may not overtake nor join it
  EXPECT_EQ(agent.Complete(alone->run_id).status, 200);
  auto last = agent.NextJob();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->job_id, later.id);
}

TEST(FleetCmdrApiTest, ALongPollAnswersWithinMillisecondsOfACreateAndAfterItsWaitOtherwise) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  // Nothing happens: the long-poll answers after `wait`, with nothing pending.
  const auto idle_start = std::chrono::steady_clock::now();
  auto idle = agent.Notify(1);
  const auto idle_took = std::chrono::steady_clock::now() - idle_start;
  EXPECT_EQ(idle.status, 200);
  EXPECT_NE(idle.body.find("\"pending\":0"), std::string::npos) << idle.body;
  EXPECT_GE(idle_took, 900ms);
  EXPECT_LT(idle_took, 3s);

  // A create wakes a waiting long-poll at once.
  std::atomic<bool> answered{false};
  std::chrono::steady_clock::time_point answered_at;
  Reply woken;
  std::thread poller([&] {
    woken = agent.Notify(20);
    answered_at = std::chrono::steady_clock::now();
    answered = true;
  });
  // Let the poll reach the server (it is held: nothing pending).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto metrics = cluster.admin().Get("/metrics");
        return metrics.body.find("fleet_cmdr_notify_waiters 1") != std::string::npos;
      },
      5s));
  const auto created_at = std::chrono::steady_clock::now();
  cluster.Enqueue(Backup("orb-1", "mc-1"));
  ASSERT_TRUE(WaitFor([&] { return answered.load(); }, 5s));
  poller.join();
  EXPECT_LT(answered_at - created_at, 500ms);
  EXPECT_NE(woken.body.find("\"pending\":1"), std::string::npos) << woken.body;
}

TEST(FleetCmdrApiTest, ResentUpdateBatchesAreIgnored) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  const std::string batch =
      R"({"updates":[{"seq":1,"status":"RUNNING","percent":10,"message":"a","timestamp":"2026-11-22T10:00:00.000Z"}],
      "logs":[{"seq":1,"timestamp":"2026-11-22T10:00:00.000Z","level":"info","message":"line one"},
              {"seq":2,"timestamp":"2026-11-22T10:00:00.000Z","level":"info","message":"line two"}]})";
  for (int i = 0; i < 3; ++i) {
    auto reply = agent.Update(run->run_id, batch);
    EXPECT_EQ(reply.status, 200);
    EXPECT_NE(reply.body.find("\"ackedLogSeq\":2"), std::string::npos) << reply.body;
  }
  const std::string final_batch =
      R"({"updates":[],"logs":[],"final":{"seq":2,"status":"COMPLETED","result":{},"timestamp":"2026-11-22T10:00:00.000Z"}})";
  EXPECT_EQ(agent.Update(run->run_id, final_batch).status, 200);
  EXPECT_EQ(agent.Update(run->run_id, final_batch).status, 200);  // resending a final is safe
  auto logs = protocol::FromJson<protocol::JobLogs>(
      cluster.admin().Get("/v1/jobs/" + job.id + "/logs").body);
  ASSERT_TRUE(logs);
  EXPECT_EQ(logs->lines.size(), 2u);
  auto events = protocol::FromJson<protocol::EventList>(
      cluster.admin().Get("/v1/jobs/" + job.id + "/events").body);
  ASSERT_TRUE(events);
  int progress = 0;
  for (const auto& event : events->events)
    progress += event.type == protocol::EventType::kJobProgress;
  EXPECT_EQ(progress, 1);
}

TEST(FleetCmdrApiTest, AnExpiredLeaseFailsTheRunAndFencesTheAgent) {
  auto options = TestCluster::DefaultOptions();
  options.lease_seconds = 1;
  TestCluster cluster(options);
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1", R"("maxAttempts":1)"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(run->lease_seconds, 1);
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job.id) == "FAILED"; }, 5s));
  EXPECT_EQ(cluster.Job(job.id).last_error->code, "agent_lost");
  auto late = agent.Update(run->run_id, R"({"updates":[],"logs":[]})");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.error_code, "run_not_active");
}

TEST(FleetCmdrApiTest, HelloFailsTheRunsAnAgentReportsInterrupted) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto job = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  auto hello =
      agent.Hello(kAllTypes, 4, fmt::format(R"([{{"runId":"{}","lastSeq":0}}])", run->run_id));
  EXPECT_EQ(hello.status, 200);
  auto after = cluster.Job(job.id);
  ASSERT_TRUE(after.last_error);
  EXPECT_EQ(after.last_error->code, "agent_restarted");
  EXPECT_EQ(after.status, protocol::JobStatus::kCreated);  // retryable: retried after backoff
}

TEST(FleetCmdrApiTest, SelectorBatchesIdempotencyAndListing) {
  TestCluster cluster;
  cluster.Enroll("eu-1", {{"region", "eu"}});
  cluster.Enroll("eu-2", {{"region", "eu"}});
  cluster.Enroll("us-1", {{"region", "us"}});
  auto batch = cluster.admin().Post(
      "/v1/jobs",
      R"({"selector":{"labels":{"region":"eu"}},"type":"BACKUP_INSTANCE","instanceId":"mc-1","payload":{}})");
  EXPECT_EQ(batch.status, 201) << batch.body;
  auto created = protocol::FromJson<protocol::BatchCreated>(batch.body);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->jobs.size(), 2u);
  auto listed = protocol::FromJson<protocol::JobList>(
      cluster.admin().Get("/v1/jobs?batchId=" + created->batch_id).body);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->jobs.size(), 2u);

  const auto keyed = Backup("us-1", "mc-1", R"("idempotencyKey":"nightly-1")");
  auto first = cluster.admin().Post("/v1/jobs", keyed);
  auto again = cluster.admin().Post("/v1/jobs", keyed);
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(protocol::FromJson<protocol::Job>(first.body)->id,
            protocol::FromJson<protocol::Job>(again.body)->id);

  // Cursors walk every job once, newest first.
  std::set<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto reply =
        cluster.admin().Get("/v1/jobs?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
    auto jobs = protocol::FromJson<protocol::JobList>(reply.body);
    ASSERT_TRUE(jobs) << reply.body;
    for (const auto& job : jobs->jobs)
      EXPECT_TRUE(seen.insert(job.id).second);
    if (!jobs->next_cursor) break;
    cursor = *jobs->next_cursor;
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(cluster.admin().Get("/v1/jobs?status=BOGUS").error_code, "invalid_request");
  EXPECT_EQ(cluster.admin().Get("/v1/jobs?limit=501").error_code, "invalid_request");
}

TEST(FleetCmdrApiTest, AgentsShowOnlineAndRevokedTokensStopWorking) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto agents = protocol::FromJson<protocol::AgentList>(cluster.admin().Get("/v1/agents").body);
  ASSERT_TRUE(agents);
  ASSERT_EQ(agents->agents.size(), 1u);
  EXPECT_TRUE(agents->agents[0].online);
  EXPECT_EQ(agents->agents[0].max_parallel, 4);
  EXPECT_EQ(cluster.admin().Call("DELETE", "/v1/agents/orb-1").status, 204);
  EXPECT_EQ(agent.Notify(0).status, 401);

  auto operator_token = cluster.CreateToken("operator");
  ApiClient op(cluster.port(), operator_token);
  EXPECT_EQ(op.Get("/v1/jobs").status, 200);
  EXPECT_EQ(op.Post("/v1/agents", R"({"agentId":"x"})").status, 403);  // admin only
}

TEST(FleetCmdrApiTest, ArtifactsAreContentAddressedAndResumable) {
  TestCluster cluster;
  std::string bytes(300'000, 'x');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>('a' + i % 26);
  auto put =
      cluster.admin().Call("PUT", "/v1/artifacts", bytes, std::nullopt, "application/octet-stream");
  EXPECT_EQ(put.status, 201) << put.body;
  auto info = protocol::FromJson<protocol::ArtifactInfo>(put.body);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, bytes.size());
  EXPECT_EQ(cluster.admin()
                .Call("PUT", "/v1/artifacts", bytes, std::nullopt, "application/octet-stream")
                .status,
            200);
  auto get = cluster.admin().Get(info->url);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, bytes);
  EXPECT_EQ(cluster.admin().Get("/v1/artifacts/" + std::string(64, '0')).status, 404);
}

TEST(FleetCmdrApiTest, AStoredArtifactTheDiskChangedIsReplacedByTheNextUpload) {
  TestCluster cluster;
  const std::string bytes(100'000, 'q');
  auto put =
      cluster.admin().Call("PUT", "/v1/artifacts", bytes, std::nullopt, "application/octet-stream");
  ASSERT_EQ(put.status, 201) << put.body;
  auto info = protocol::FromJson<protocol::ArtifactInfo>(put.body);
  ASSERT_TRUE(info);
  const auto stored = cluster.data_dir() / "artifacts" / info->sha256;
  ASSERT_TRUE(std::filesystem::is_regular_file(stored));
  {
    std::ofstream rot(stored, std::ios::binary | std::ios::in | std::ios::out);
    rot.seekp(500);
    rot.write("ROT", 3);  // the disk flipped bytes: same size, another digest
  }
  EXPECT_EQ(cluster.admin()
                .Call("PUT", "/v1/artifacts", bytes, std::nullopt, "application/octet-stream")
                .status,
            201);  // stored again, not "already present"
  EXPECT_EQ(cluster.admin().Get(info->url).body, bytes);
}

TEST(FleetCmdrApiTest, MetricsAreInPrometheusTextFormat) {
  TestCluster cluster;
  cluster.admin().Get("/v1/jobs");
  auto metrics = cluster.admin().Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE fleet_cmdr_http_requests_total counter"), std::string::npos);
  EXPECT_NE(metrics.body.find(R"(route="GET /v1/jobs",code="200")"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("fleet_cmdr_dispatch_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find(R"(fleet_cmdr_jobs{type="BACKUP_INSTANCE",status="QUEUED"} 0)"),
            std::string::npos)
      << metrics.body;
}

TEST(FleetCmdrApiTest, MetricsCountJobsByTypeAndStatusFromTheStore) {
  TestCluster cluster;
  cluster.Enroll("orb-1", {});
  const auto job = cluster.Enqueue(JobBody("orb-1", "PRUNE_BACKUPS", "mc-1", R"({"keepLast":2})"));
  const std::string status(protocol::ToString(job.status));
  auto metrics = cluster.admin().Get("/metrics");
  EXPECT_NE(
      metrics.body.find(R"(fleet_cmdr_jobs{type="PRUNE_BACKUPS",status=")" + status + R"("} 1)"),
      std::string::npos)
      << metrics.body;
  // The create went through the store's asynchronous path, which times itself.
  EXPECT_NE(metrics.body.find(R"(fleet_cmdr_store_seconds_count{operation="create_jobs"} 1)"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(R"(fleet_cmdr_store_seconds_count{operation="dispatch_next"} 0)"),
            std::string::npos)
      << metrics.body;
  ASSERT_EQ(cluster.admin().Post("/v1/jobs/" + job.id + "/cancel").status, 200);
  metrics = cluster.admin().Get("/metrics");
  EXPECT_NE(metrics.body.find(R"(fleet_cmdr_jobs{type="PRUNE_BACKUPS",status="CANCELLED"} 1)"),
            std::string::npos);
  EXPECT_NE(
      metrics.body.find(R"(fleet_cmdr_jobs{type="PRUNE_BACKUPS",status=")" + status + R"("} 0)"),
      std::string::npos)
      << metrics.body;
}

// ---- the stream ----

std::vector<protocol::Event> ReadEvents(net::WebSocketClient& ws, std::size_t count) {
  std::vector<protocol::Event> events;
  while (events.size() < count) {
    auto text = ws.Receive(5s);
    if (!text) {
      ADD_FAILURE() << "stream: " << text.error().Describe();
      break;
    }
    auto message = protocol::ParseStreamMessage(*text);
    if (!message) {
      ADD_FAILURE() << *text;
      break;
    }
    // agent.online and friends interleave; these tests follow jobs.
    if (message->event && message->event->job_id) events.push_back(*message->event);
  }
  return events;
}

TEST(FleetCmdrStreamTest, AReconnectingClientMissesNothing) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  net::WebSocketOptions ws_options;
  ws_options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  std::int64_t last_seq = 0;
  {
    net::WebSocketClient ws(ws_options);
    ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
    ASSERT_TRUE(
        ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}"}})", cluster.admin_token()))
            .has_value());
    auto ready = ws.Receive(5s);
    ASSERT_TRUE(ready);
    EXPECT_NE(ready->find("\"ready\""), std::string::npos);
    cluster.Enqueue(Backup("orb-1", "mc-1"));
    auto events = ReadEvents(ws, 2);  // created, queued
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].type, protocol::EventType::kJobCreated);
    last_seq = events.back().seq;
  }
  // While disconnected: a dispatch and a completion.
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(agent.Complete(run->run_id).status, 200);
  net::WebSocketClient ws(ws_options);
  ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
  ASSERT_TRUE(ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}","since":{}}})",
                                  cluster.admin_token(), last_seq))
                  .has_value());
  // The replay holds every event after last_seq, without a gap (agent events included).
  std::vector<protocol::Event> replayed;
  std::int64_t expected_seq = last_seq + 1;
  while (replayed.size() < 2) {
    auto text = ws.Receive(5s);
    ASSERT_TRUE(text) << text.error().Describe();
    auto message = protocol::ParseStreamMessage(*text);
    ASSERT_TRUE(message) << *text;
    if (!message->event) continue;
    EXPECT_EQ(message->event->seq, expected_seq) << *text;
    expected_seq = message->event->seq + 1;
    if (message->event->job_id) replayed.push_back(*message->event);
  }
  EXPECT_EQ(replayed[0].type, protocol::EventType::kJobRunning);
  EXPECT_EQ(replayed[1].type, protocol::EventType::kJobCompleted);
  // Then live.
  cluster.Enqueue(Backup("orb-1", "mc-2"));
  auto live = ReadEvents(ws, 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_GT(live[0].seq, replayed[1].seq);
  EXPECT_EQ(live[0].type, protocol::EventType::kJobCreated);
}

TEST(FleetCmdrStreamTest, AClientWithoutAValidTokenIsClosedWith1008) {
  auto options = TestCluster::DefaultOptions();
  options.stream_auth_timeout = 300ms;
  TestCluster cluster(options);
  net::WebSocketOptions ws_options;
  ws_options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  {
    net::WebSocketClient ws(ws_options);
    ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
    ASSERT_TRUE(ws.Send(R"({"type":"subscribe","token":"wrong"})").has_value());
    auto reply = ws.Receive(5s);
    EXPECT_FALSE(reply);
    EXPECT_EQ(ws.close_code(), 1008);
  }
  {
    net::WebSocketClient ws(ws_options);
    ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
    auto reply = ws.Receive(5s);  // says nothing: closed after the deadline
    EXPECT_FALSE(reply);
    EXPECT_EQ(ws.close_code(), 1008);
  }
}

// A wrong token in the subscribe message is a failed authentication like a wrong Bearer header:
// it spends the client address's budget (100 at once, then 2 a second), and an address past it
// is refused on every route, a good token too. The budget refills while the test runs (2 a
// second), so it subscribes with wrong tokens until a REST call with the admin's token is
// refused; without the stream counting them that never happens (1,000 tries, far past 100).
TEST(FleetCmdrStreamTest, WrongTokensInSubscribeMessagesSpendTheAddresssAuthenticationBudget) {
  TestCluster cluster;
  net::WebSocketOptions ws_options;
  ws_options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  const auto subscribe = [&](const std::string& token) {
    net::WebSocketClient ws(ws_options);
    EXPECT_TRUE(ws.Connect("/v1/stream").has_value());
    (void)ws.Send(R"({"type":"subscribe","token":")" + token + R"("})");
    EXPECT_FALSE(ws.Receive(5s));  // closed, never ready
    return ws.close_code();
  };
  EXPECT_EQ(cluster.admin().Get("/v1/jobs").status, 200);
  int tries = 0;
  for (; tries < 1000; ++tries) {
    ASSERT_EQ(subscribe("wrong-" + std::to_string(tries)), 1008) << tries;
    if (cluster.admin().Get("/v1/jobs").status == 429) break;
  }
  EXPECT_GE(tries, 99);  // the burst of 100, less what refilled meanwhile
  EXPECT_LT(tries, 1000);
}

TEST(FleetCmdrStreamTest, ARevokedTokensStreamIsClosed) {
  TestCluster cluster;
  auto reply = cluster.admin().Post("/v1/tokens", R"({"role":"viewer","name":"revoked soon"})");
  ASSERT_EQ(reply.status, 201) << reply.body;
  const auto created = protocol::FromJson<protocol::TokenCreated>(reply.body);
  ASSERT_TRUE(created);
  net::WebSocketOptions ws_options;
  ws_options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  net::WebSocketClient kept(ws_options);  // the admin's: not revoked
  ASSERT_TRUE(kept.Connect("/v1/stream").has_value());
  ASSERT_TRUE(
      kept.Send(fmt::format(R"({{"type":"subscribe","token":"{}"}})", cluster.admin_token()))
          .has_value());
  net::WebSocketClient ws(ws_options);
  ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
  ASSERT_TRUE(
      ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}"}})", created->token)).has_value());
  for (auto* client : {&kept, &ws}) {
    auto ready = client->Receive(5s);
    ASSERT_TRUE(ready) << ready.error().Describe();
    EXPECT_NE(ready->find("\"ready\""), std::string::npos);
  }

  EXPECT_EQ(cluster.admin().Call("DELETE", "/v1/tokens/" + created->id).status, 204);
  // Closed within a timer tick or two (250 ms each); events before the close may still come.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline && ws.Receive(5s)) {
  }
  EXPECT_EQ(ws.close_code(), 1008);
  // The other subscriber still gets events.
  cluster.StartAgent("orb-1", kAllTypes);
  cluster.Enqueue(Backup("orb-1", "mc-1"));
  EXPECT_EQ(ReadEvents(kept, 1).size(), 1u);
}

TEST(FleetCmdrRestartTest, ARestartKeepsEverythingAndHandsOutNoJobTwice) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto first = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto second = cluster.Enqueue(Backup("orb-1", "mc-2"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  cluster.Restart();
  EXPECT_EQ(cluster.Status(first.id), "RUNNING");
  EXPECT_EQ(cluster.Status(second.id), "QUEUED");
  auto next = agent.NextJob();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->job_id, second.id);
  EXPECT_EQ(agent.Next().status, 204);
  EXPECT_EQ(agent.Complete(run->run_id).status, 200);
  EXPECT_EQ(cluster.Status(first.id), "COMPLETED");
}

TEST(FleetCmdrApiTest, TheStatsHistoryCountsEndedJobsPerMinuteForViewers) {
  TestCluster cluster;
  auto& agent = cluster.StartAgent("orb-1", kAllTypes);
  auto completed = cluster.Enqueue(Backup("orb-1", "mc-1"));
  auto run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(agent.Complete(run->run_id, 1, R"({"backupId":"b1","bytes":10})").status, 200);
  auto failed = cluster.Enqueue(Backup("orb-1", "mc-2"));
  run = agent.NextJob();
  ASSERT_TRUE(run);
  EXPECT_EQ(agent.Fail(run->run_id, false).status, 200);
  auto cancelled = cluster.Enqueue(Backup("orb-1", "mc-3"));
  EXPECT_EQ(cluster.admin().Post("/v1/jobs/" + cancelled.id + "/cancel").status, 200);

  // A viewer may read it; two minutes, so a minute that turned meanwhile loses nothing.
  ApiClient viewer(cluster.port(), cluster.CreateToken("viewer"));
  auto reply = viewer.Get("/v1/stats/history?minutes=2");
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto history = protocol::ParseStatsHistory(reply.body);
  ASSERT_TRUE(history) << reply.body;
  EXPECT_EQ(history->minutes, 2);
  ASSERT_EQ(history->buckets.size(), 2u);
  EXPECT_EQ(history->buckets[1].minute - history->buckets[0].minute, 1min);
  std::int64_t done = 0, fail = 0, cancel = 0;
  for (const auto& minute : history->buckets) {
    done += minute.completed;
    fail += minute.failed;
    cancel += minute.cancelled;
  }
  EXPECT_EQ(done, 1);
  EXPECT_EQ(fail, 1);
  EXPECT_EQ(cancel, 1);

  // The default window is 60 minutes, every one present.
  auto hour = protocol::ParseStatsHistory(viewer.Get("/v1/stats/history").body);
  ASSERT_TRUE(hour);
  EXPECT_EQ(hour->buckets.size(), 60u);

  // Out of range or not a number: 400 naming the parameter.
  for (const char* bad : {"0", "1441", "x", "", "-5"}) {
    auto refused = viewer.Get(std::string("/v1/stats/history?minutes=") + bad);
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_EQ(refused.error_code, "invalid_request") << bad;
    EXPECT_NE(refused.body.find("minutes"), std::string::npos) << refused.body;
  }
  EXPECT_EQ(ApiClient(cluster.port(), "").Get("/v1/stats/history").status, 401);
  (void)completed;
  (void)failed;
}

}  // namespace
}  // namespace orb::testing
