#include "protocol/codec.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/time.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

WallTime At(std::int64_t millis) {
  return FromUnixMillis(millis);
}

// A message with every optional field set, and one with only what is required.
RunError FullRunError() {
  return RunError{"checksum_mismatch", "sha256 differs", {"install paper b7", "download"}, true};
}

Job FullJob() {
  Job job;
  job.id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  job.agent_id = "orb-7";
  job.type = "BACKUP_INSTANCE";
  job.instance_id = "mc-1";
  job.server_id = "paper";
  job.payload_json = R"({"keepLast":3,"nested":{"a":[1,2,"x"],"b":null}})";
  job.status = JobStatus::kFailed;
  job.priority = -5;
  job.exclusive = true;
  job.max_attempts = 3;
  job.retry_backoff_seconds = 20;
  job.timeout_seconds = 3600;
  job.not_before = At(1795000000123);
  job.idempotency_key = "nightly-2026-11-22";
  job.batch_id = "batch-1";
  job.attempts = 2;
  job.cancel_requested = true;
  job.current_run_id = "run-2";
  job.last_error = FullRunError();
  job.result_json = R"({"backupId":"b1","bytes":123})";
  job.created_at = At(1795000000000);
  job.updated_at = At(1795000009999);
  job.depends_on = {"job-a", "job-b"};
  job.waiting_for = {"job-b"};
  return job;
}

Job MinimalJob() {
  Job job;
  job.id = "j1";
  job.agent_id = "orb-1";
  job.type = "STOP_INSTANCE";
  job.created_at = At(1795000000000);
  job.updated_at = At(1795000000001);
  return job;
}

Run FullRun() {
  Run run;
  run.id = "run-2";
  run.job_id = "j1";
  run.attempt = 2;
  run.status = RunStatus::kFailed;
  run.started_at = At(1795000001000);
  run.finished_at = At(1795000002000);
  run.percent = 42;
  run.message = "archiving";
  run.result_json = R"({"a":1})";
  run.error = FullRunError();
  run.logs_dropped = 1234;
  return run;
}

Run MinimalRun() {
  Run run;
  run.id = "run-1";
  run.job_id = "j1";
  run.started_at = At(1795000001000);
  return run;
}

Event FullEvent() {
  Event event;
  event.seq = 5678;
  event.type = EventType::kJobProgress;
  event.timestamp = At(1795000003000);
  event.job_id = "j1";
  event.run_id = "run-1";
  event.agent_id = "orb-7";
  event.instance_id = "mc-1";
  event.job_type = "BACKUP_INSTANCE";
  event.status = "RUNNING";
  event.percent = 99;
  event.message = "almost";
  event.attempt = 1;
  event.error = FullRunError();
  return event;
}

template <class T>
void ExpectRoundTrip(const T& value) {
  const std::string json = ToJson(value);
  const Expected<T> back = FromJson<T>(json);
  ASSERT_THAT(back, IsOk()) << json;
  EXPECT_EQ(*back, value) << json;
  // Encoding is deterministic: the decoded value encodes to the same text.
  EXPECT_EQ(ToJson(*back), json);
}

// The field names of Error.details, for compact assertions.
template <class T>
std::vector<std::string> ProblemFields(const Expected<T>& result) {
  std::vector<std::string> fields;
  if (result) return fields;
  for (const auto& problem : result.error().details)
    fields.push_back(problem.field);
  return fields;
}

template <class T>
std::string ProblemOf(const Expected<T>& result, const std::string& field) {
  if (result) return "";
  for (const auto& problem : result.error().details) {
    if (problem.field == field) return problem.problem;
  }
  return "";
}

// ---- Round trips ----

TEST(CodecTest, JobsAndRunsRoundTripWithEveryFieldSetAndUnset) {
  ExpectRoundTrip(FullRunError());
  ExpectRoundTrip(RunError{"x", "", {}, false});
  ExpectRoundTrip(FullJob());
  ExpectRoundTrip(MinimalJob());
  ExpectRoundTrip(FullRun());
  ExpectRoundTrip(MinimalRun());
  ExpectRoundTrip(JobDetail{FullJob(), {MinimalRun(), FullRun()}});
  ExpectRoundTrip(JobDetail{MinimalJob(), {}});
  ExpectRoundTrip(BatchCreated{"batch-1", {FullJob(), MinimalJob()}});
  ExpectRoundTrip(BatchCreated{"batch-2", {}});
  ExpectRoundTrip(JobList{{FullJob(), MinimalJob()}, "cursor-abc"});
  ExpectRoundTrip(JobList{{}, std::nullopt});
}

TEST(CodecTest, CreateJobRequestsRoundTripWithAgentOrSelector) {
  CreateJobRequest full;
  full.agent_id = "orb-7";
  full.type = "BACKUP_INSTANCE";
  full.instance_id = "mc-1";
  full.server_id = "paper";
  full.payload_json = R"({"keepLast":3})";
  full.priority = 100;
  full.exclusive = false;
  full.max_attempts = 20;
  full.retry_backoff_seconds = 0;
  full.timeout_seconds = 1;
  full.not_before = At(1795000000500);
  full.idempotency_key = "k1";
  full.depends_on = {"job-a", "job-b"};
  ExpectRoundTrip(full);

  CreateJobRequest selector;
  selector.selector_labels = Labels{{"region", "eu"}, {"tier", "gold"}};
  selector.type = "SYNC_MODS";
  ExpectRoundTrip(selector);
}

TEST(CodecTest, AgentApiMessagesRoundTrip) {
  ExpectRoundTrip(InterruptedRun{"run-1", 12});
  ExpectRoundTrip(HelloRequest{"1.4.0",
                               {"BACKUP_INSTANCE", "STOP_INSTANCE"},
                               4,
                               {{"region", "eu"}},
                               {{"run-1", 12}, {"run-2", 0}}});
  ExpectRoundTrip(HelloRequest{"1.4.0", {}, 1, {}, {}});
  ExpectRoundTrip(HelloResponse{At(1795000000000), 3, 5, 25, 1000, 15, 60});
  ExpectRoundTrip(NotifyResponse{2, {"run-1", "run-2"}});
  ExpectRoundTrip(NotifyResponse{0, {}});
  ExpectRoundTrip(NextRequest{{"run-1"}});
  ExpectRoundTrip(NextRequest{});

  JobExecution execution{
      "j1", "run-1", 1,  "BACKUP_INSTANCE", "mc-1", std::nullopt, R"({"keepLast":3})",
      3600, true,    60, At(1795000000000)};
  ExpectRoundTrip(execution);
  execution.instance_id.reset();
  execution.server_id = "paper";
  execution.cancellable = false;
  ExpectRoundTrip(execution);

  const ProgressUpdate full_update{7,           RunStatus::kRunning, 42,
                                   "archiving", "archive",           At(1795000000001)};
  const ProgressUpdate bare_update{
      8, RunStatus::kRunning, std::nullopt, std::nullopt, std::nullopt, At(1795000000002)};
  ExpectRoundTrip(full_update);
  ExpectRoundTrip(bare_update);
  const LogLine log{31, At(1795000000003), "warn", "disk at 91%"};
  ExpectRoundTrip(log);
  const FinalUpdate completed{8, RunStatus::kCompleted, R"({"backupId":"b1","bytes":123})",
                              std::nullopt, At(1795000000004)};
  const FinalUpdate failed{9, RunStatus::kFailed, std::nullopt, FullRunError(), At(1795000000005)};
  const FinalUpdate cancelled{10, RunStatus::kCancelled, std::nullopt, std::nullopt,
                              At(1795000000006)};
  ExpectRoundTrip(completed);
  ExpectRoundTrip(failed);
  ExpectRoundTrip(cancelled);
  ExpectRoundTrip(UpdatesRequest{{full_update, bare_update}, {log}, completed});
  ExpectRoundTrip(UpdatesRequest{{}, {}, std::nullopt});
  ExpectRoundTrip(UpdatesRequest{{}, {}, failed});
  ExpectRoundTrip(UpdatesResponse{8, 31, true});
}

TEST(CodecTest, OperatorApiMessagesRoundTrip) {
  const JobLogLine line{"run-1", 3, At(1795000000000), "info", "started"};
  ExpectRoundTrip(line);
  ExpectRoundTrip(JobLogs{{line, line}, 0, std::nullopt});
  ExpectRoundTrip(JobLogs{});
  // Lines past the run log cap: the count and the cap (docs/decisions/0020).
  ExpectRoundTrip(JobLogs{{line}, 1234, LogCap{20'000, 8 << 20}});
  const auto negative = protocol::FromJson<JobLogs>(R"({"lines":[],"logsDropped":-1})");
  EXPECT_FALSE(negative.has_value());

  AgentInfo full{"orb-7",
                 true,
                 At(1795000000000),
                 "1.4.0",
                 {{"region", "eu"}},
                 {"BACKUP_INSTANCE"},
                 4,
                 {"run-1"},
                 false,
                 AgentStatusReport{false, {{"journal_unwritable", "disk full"}}, At(1795000000000)},
                 InventorySummary{2, 1, 1, At(1795000000000)},
                 JobStatus::kFailed};
  ExpectRoundTrip(full);
  AgentInfo bare;
  bare.agent_id = "orb-8";
  bare.revoked = true;
  ExpectRoundTrip(bare);
  ExpectRoundTrip(AgentList{{full, bare}});
  ExpectRoundTrip(EnrollRequest{"orb-9", {{"region", "us"}}});
  ExpectRoundTrip(EnrollRequest{"orb-9", {}});
  ExpectRoundTrip(EnrollResponse{"orb-9", "secret"});
  ExpectRoundTrip(TokenCreateRequest{Role::kOperator, "ci"});
  ExpectRoundTrip(TokenCreated{"t1", "secret"});
  ExpectRoundTrip(Whoami{"t1", Role::kOperator});
  ExpectRoundTrip(ArtifactInfo{"ab12", 0, "/v1/artifacts/ab12"});
  ExpectRoundTrip(ArtifactInfo{"ab12", UINT64_MAX, "/v1/artifacts/ab12"});
  ExpectRoundTrip(ArtifactInfo{"ab12", 5ULL << 32, "/v1/artifacts/ab12"});
  const StoredArtifact stored{"ab12", 7, At(1795000000000), "/v1/artifacts/ab12", 2};
  ExpectRoundTrip(stored);
  ExpectRoundTrip(
      ArtifactList{{stored, StoredArtifact{"cd34", 0, At(1), "/v1/artifacts/cd34", 0}}});
  ExpectRoundTrip(ArtifactList{});
}

TEST(CodecTest, EventsSubscriptionsAndLabelsRoundTrip) {
  ExpectRoundTrip(FullEvent());
  Event bare;
  bare.seq = 1;
  bare.type = EventType::kAgentOnline;
  bare.timestamp = At(1795000000000);
  ExpectRoundTrip(bare);
  ExpectRoundTrip(EventList{{FullEvent(), bare}});
  ExpectRoundTrip(SubscribeMessage{"tok", 1234, "orb-7", "j1"});
  ExpectRoundTrip(SubscribeMessage{});
  ExpectRoundTrip(SubscribeMessage{std::nullopt, 0, std::nullopt, "j1"});
  ExpectRoundTrip(Labels{{"region", "eu"}, {"é", "ünïcode"}, {"empty", ""}});
  ExpectRoundTrip(Labels{});
}

TEST(CodecTest, EveryEnumValueRoundTrips) {
  for (const auto status : {JobStatus::kCreated, JobStatus::kQueued, JobStatus::kRunning,
                            JobStatus::kCompleted, JobStatus::kFailed, JobStatus::kCancelled}) {
    Job job = MinimalJob();
    job.status = status;
    ExpectRoundTrip(job);
  }
  for (const auto status :
       {RunStatus::kRunning, RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kCancelled}) {
    protocol::Run run = MinimalRun();
    run.status = status;
    ExpectRoundTrip(run);
  }
  for (const auto role : {Role::kViewer, Role::kOperator, Role::kAdmin}) {
    ExpectRoundTrip(TokenCreateRequest{role, "n"});
  }
  for (int i = 0; i <= static_cast<int>(EventType::kAgentEnrolled); ++i) {
    Event event = FullEvent();
    event.type = static_cast<EventType>(i);
    ExpectRoundTrip(event);
  }
}

// ---- Golden JSON from protocol.md ----

TEST(CodecTest, HelloResponseMatchesTheSpec) {
  const HelloResponse hello{At(1795000000123), 3, 5, 25, 1000, 15, 60};
  EXPECT_EQ(ToJson(hello),
            R"({"serverTime":"2026-11-18T11:06:40.123Z","pollIntervalSeconds":{"min":3,"max":5},)"
            R"("longPollSeconds":25,"progressMinIntervalMs":1000,"heartbeatSeconds":15,)"
            R"("leaseSeconds":60})");
}

TEST(CodecTest, SmallAgentResponsesMatchTheSpec) {
  EXPECT_EQ(ToJson(NotifyResponse{2, {"r1", "r2"}}), R"({"pending":2,"cancel":["r1","r2"]})");
  EXPECT_EQ(ToJson(UpdatesResponse{8, 31, false}),
            R"({"ackedUpdateSeq":8,"ackedLogSeq":31,"cancelRequested":false})");
  EXPECT_EQ(ToJson(NextRequest{{"r1"}}), R"({"running":["r1"]})");
}

TEST(CodecTest, JobExecutionMatchesTheSpecWithNullServerId) {
  const JobExecution execution{"j1", "r1", 1,  "BACKUP_INSTANCE", "mc-1", std::nullopt, "{}",
                               3600, true, 60, At(1795000000000)};
  EXPECT_EQ(ToJson(execution),
            R"({"jobId":"j1","runId":"r1","attempt":1,"type":"BACKUP_INSTANCE",)"
            R"("instanceId":"mc-1","serverId":null,"payload":{},"timeoutSeconds":3600,)"
            R"("cancellable":true,"leaseSeconds":60,"createdAt":"2026-11-18T11:06:40.000Z"})");
}

TEST(CodecTest, JobAlwaysCarriesEveryKeyWithNullForUnsetOptionals) {
  const std::string json = ToJson(MinimalJob());
  for (const char* key : {"instanceId", "serverId", "notBefore", "idempotencyKey", "batchId",
                          "currentRunId", "lastError", "result"}) {
    EXPECT_THAT(json, HasSubstr("\"" + std::string(key) + "\":null")) << key;
  }
  EXPECT_THAT(json, HasSubstr(R"("payload":{})"));
  EXPECT_THAT(json, HasSubstr(R"("status":"CREATED")"));
  EXPECT_THAT(ToJson(MinimalRun()), HasSubstr(R"("finishedAt":null,"percent":null)"));
  Event event;
  event.type = EventType::kAgentOffline;
  EXPECT_THAT(ToJson(event), HasSubstr(R"("jobId":null,"runId":null,"agentId":null)"));
}

// docs/protocol.md "Job dependencies": dependsOn and waitingFor are always there, [] when empty,
// and a create request names its dependencies as an array of ids.
TEST(CodecTest, JobCarriesDependsOnAndWaitingForAsArrays) {
  EXPECT_THAT(ToJson(MinimalJob()), HasSubstr(R"("dependsOn":[],"waitingFor":[])"));
  EXPECT_THAT(ToJson(FullJob()),
              HasSubstr(R"("dependsOn":["job-a","job-b"],"waitingFor":["job-b"])"));
  // A job without the keys (an older server) decodes with both empty.
  const auto old = FromJson<Job>(
      R"({"id":"j","agentId":"a","type":"T","status":"QUEUED","createdAt":"2026-11-22T10:00:00Z",)"
      R"("updatedAt":"2026-11-22T10:00:00Z"})");
  ASSERT_THAT(old, IsOk());
  EXPECT_TRUE(old->depends_on.empty());
  EXPECT_TRUE(old->waiting_for.empty());

  const auto request = FromJson<CreateJobRequest>(
      R"({"agentId": "orb-1", "type": "STOP_INSTANCE", "instanceId": "mc-1",)"
      R"( "dependsOn": ["j1", "j2"]})");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->depends_on, (std::vector<std::string>{"j1", "j2"}));
  EXPECT_THAT(ToJson(*request), HasSubstr(R"("dependsOn":["j1","j2"])"));
  // No dependencies: no key, so the request fingerprint of older clients' requests is unchanged.
  CreateJobRequest without = *request;
  without.depends_on.clear();
  EXPECT_THAT(ToJson(without), Not(HasSubstr("dependsOn")));
  for (const char* bad :
       {R"("dependsOn": "j1")", R"("dependsOn": [1])", R"("dependsOn": [["j1"]])"}) {
    const auto wrong = FromJson<CreateJobRequest>(
        std::string(R"({"agentId": "orb-1", "type": "STOP_INSTANCE", "instanceId": "mc-1", )") +
        bad + "}");
    EXPECT_THAT(wrong, FailsWith(Errc::kInvalidRequest)) << bad;
  }
}

TEST(CodecTest, PayloadAndResultAreEmbeddedAsObjectsNotStrings) {
  const std::string json = ToJson(FullJob());
  EXPECT_THAT(json, HasSubstr(R"("payload":{"keepLast":3,"nested":{"a":[1,2,"x"],"b":null}})"));
  EXPECT_THAT(json, HasSubstr(R"("result":{"backupId":"b1","bytes":123})"));
  EXPECT_THAT(json, HasSubstr(R"("lastError":{"code":"checksum_mismatch")"));
}

TEST(CodecTest, DecodesTheUpdatesExampleOfTheSpec) {
  const auto request = FromJson<UpdatesRequest>(R"json({
    "updates": [{"seq": 7, "status": "RUNNING", "percent": 42,
                 "message": "archiving data (1.2 GiB of 2.9 GiB)", "step": "archive",
                 "timestamp": "2026-11-22T10:00:00.123Z"}],
    "logs": [{"seq": 31, "timestamp": "2026-11-22T10:00:00.200Z", "level": "info",
              "message": "..."}],
    "final": {"seq": 8, "status": "COMPLETED",
              "result": {"backupId": "b1", "sha256": "ab", "bytes": 123},
              "timestamp": "2026-11-22T10:00:01+01:00"}})json");
  ASSERT_THAT(request, IsOk());
  ASSERT_EQ(request->updates.size(), 1u);
  EXPECT_EQ(request->updates[0].seq, 7);
  EXPECT_EQ(request->updates[0].percent, 42);
  EXPECT_EQ(request->updates[0].step, "archive");
  EXPECT_EQ(FormatTimestamp(request->updates[0].timestamp), "2026-11-22T10:00:00.123Z");
  ASSERT_EQ(request->logs.size(), 1u);
  EXPECT_EQ(request->logs[0].level, "info");
  ASSERT_TRUE(request->final_update.has_value());
  EXPECT_EQ(request->final_update->status, RunStatus::kCompleted);
  EXPECT_EQ(request->final_update->result_json, R"({"backupId":"b1","sha256":"ab","bytes":123})");
  EXPECT_EQ(FormatTimestamp(request->final_update->timestamp), "2026-11-22T09:00:01.000Z");
}

TEST(CodecTest, DecodesTheHelloAndSubscribeExamplesOfTheSpec) {
  const auto hello = FromJson<HelloRequest>(
      R"({"agentVersion": "1.4.0", "jobTypes": ["BACKUP_INSTANCE"], "maxParallel": 4,)"
      R"( "labels": {"region": "eu"}, "interruptedRuns": [{"runId": "r9", "lastSeq": 12}]})");
  ASSERT_THAT(hello, IsOk());
  EXPECT_EQ(*hello,
            (HelloRequest{"1.4.0", {"BACKUP_INSTANCE"}, 4, {{"region", "eu"}}, {{"r9", 12}}}));

  const auto subscribe =
      FromJson<SubscribeMessage>(R"({"type": "subscribe", "token": "t", "since": 1234,)"
                                 R"( "filter": {"agentId": "orb-7", "jobId": null}})");
  ASSERT_THAT(subscribe, IsOk());
  EXPECT_EQ(*subscribe, (SubscribeMessage{"t", 1234, "orb-7", std::nullopt}));
}

TEST(CodecTest, DecodesACreateJobRequestWithSelector) {
  const auto request = FromJson<CreateJobRequest>(
      R"({"selector": {"labels": {"region": "eu"}}, "type": "SYNC_MODS",)"
      R"( "payload": {"mods": []}, "priority": 5, "notBefore": "2026-11-22T10:00:00Z"})");
  ASSERT_THAT(request, IsOk());
  EXPECT_FALSE(request->agent_id.has_value());
  EXPECT_EQ(request->selector_labels, (Labels{{"region", "eu"}}));
  EXPECT_EQ(request->payload_json, R"({"mods":[]})");
  EXPECT_EQ(request->priority, 5);
  EXPECT_EQ(request->exclusive, std::nullopt);
}

TEST(CodecTest, StreamMessagesMatchTheSpecAndParseBack) {
  EXPECT_EQ(StreamReadyJson(5678), R"({"type":"ready","seq":5678})");
  EXPECT_EQ(StreamResyncJson(), R"({"type":"resync"})");
  const std::string event_json = StreamEventJson(FullEvent());
  EXPECT_EQ(event_json, R"({"type":"event","event":)" + ToJson(FullEvent()) + "}");

  EXPECT_EQ(ParseStreamMessage(StreamReadyJson(5678)).value(),
            (StreamMessage{StreamMessage::Kind::kReady, 5678, std::nullopt}));
  EXPECT_EQ(ParseStreamMessage(StreamResyncJson()).value().kind, StreamMessage::Kind::kResync);
  EXPECT_EQ(ParseStreamMessage(event_json).value(),
            (StreamMessage{StreamMessage::Kind::kEvent, 0, FullEvent()}));
  EXPECT_THAT(ParseStreamMessage(R"({"type":"bogus"})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseStreamMessage(R"({"type":"ready"})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseStreamMessage("{"), FailsWith(Errc::kInvalidJson));
}

TEST(CodecTest, SubscribeEncodesOnlyWhatIsSet) {
  EXPECT_EQ(ToJson(SubscribeMessage{}), R"({"type":"subscribe"})");
  EXPECT_EQ(ToJson(SubscribeMessage{"t", 3, "orb-7", std::nullopt}),
            R"({"type":"subscribe","token":"t","since":3,"filter":{"agentId":"orb-7"}})");
}

// ---- Malformed input ----

TEST(CodecTest, MalformedJsonIsInvalidJson) {
  for (const char* text :
       {"{", "}", "{\"agentId\":}", "nope", "{} {}", "{\"a\":1,}", "[1,]", "/*c*/{}", "{'a':1}",
        "{\"a\":\"\\ud800\"}", "{\"a\" 1}", "\"unterminated", "{\"a\":tru}"}) {
    EXPECT_THAT(FromJson<CreateJobRequest>(text), FailsWith(Errc::kInvalidJson)) << text;
    EXPECT_THAT(FromJson<Job>(text), FailsWith(Errc::kInvalidJson)) << text;
  }
  const auto error = FromJson<Job>("{\"a\": 1 x");
  ASSERT_FALSE(error.has_value());
  EXPECT_THAT(error.error().message, HasSubstr("at byte"));
}

TEST(CodecTest, EmptyInputIsInvalidJson) {
  EXPECT_THAT(FromJson<HelloRequest>(""), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(FromJson<HelloRequest>(" \n\t "), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(FromJson<Labels>(std::string_view()), FailsWith(Errc::kInvalidJson));
}

TEST(CodecTest, NonObjectTopLevelIsInvalidRequest) {
  for (const char* text : {"[]", "[{}]", "1", "\"x\"", "null", "true", "-0.5"}) {
    EXPECT_THAT(FromJson<UpdatesRequest>(text), FailsWith(Errc::kInvalidRequest)) << text;
    EXPECT_THAT(FromJson<Labels>(text), FailsWith(Errc::kInvalidRequest)) << text;
  }
}

TEST(CodecTest, InvalidUtf8IsInvalidJson) {
  EXPECT_THAT(FromJson<EnrollRequest>("{\"agentId\":\"orb\xff\"}"), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(FromJson<EnrollRequest>("{\"agentId\":\"\xc0\xaf\"}"), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(FromJson<EnrollRequest>("{\"agent\xed\xa0\x80\":\"x\"}"),
              FailsWith(Errc::kInvalidJson));
}

TEST(CodecTest, EncodingReplacesInvalidUtf8SoTheOutputAlwaysParses) {
  const LogLine line{1, At(0), "info", "bad \xff byte, cut \xe2\x82 and ok \xe2\x82\xac"};
  const auto back = FromJson<LogLine>(ToJson(line));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->message,
            "bad \xEF\xBF\xBD byte, cut \xEF\xBF\xBD\xEF\xBF\xBD and ok \xe2\x82\xac");
}

TEST(CodecTest, DeepNestingIsRejectedWithoutCrashing) {
  EXPECT_THAT(FromJson<Job>(std::string(10000, '[')), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(FromJson<Job>(std::string(10000, '[') + std::string(10000, ']')),
              FailsWith(Errc::kInvalidJson));
  std::string deep_payload = R"({"agentId":"a","type":"T","payload":)";
  for (int i = 0; i < 100; ++i)
    deep_payload += R"({"a":)";
  deep_payload += "1";
  for (int i = 0; i < 100; ++i)
    deep_payload += "}";
  deep_payload += "}";
  EXPECT_THAT(FromJson<CreateJobRequest>(deep_payload), FailsWith(Errc::kInvalidJson));

  std::string ok_payload = R"({"agentId":"a","type":"T","payload":)";
  for (int i = 0; i < 60; ++i)
    ok_payload += R"({"a":)";
  ok_payload += "1";
  for (int i = 0; i < 60; ++i)
    ok_payload += "}";
  ok_payload += "}";
  EXPECT_THAT(FromJson<CreateJobRequest>(ok_payload), IsOk());
}

TEST(CodecTest, TextOverTheLimitIsPayloadTooLarge) {
  std::string text = "{\"agents\":[]}";
  text.resize(kMaxJsonTextBytes + 1, ' ');
  EXPECT_THAT(FromJson<AgentList>(text), FailsWith(Errc::kPayloadTooLarge));
  text.resize(kMaxJsonTextBytes);
  EXPECT_THAT(FromJson<AgentList>(text), IsOk());
}

// ---- Field problems ----

TEST(CodecTest, NumbersThatDoNotFitAreInvalidRequest) {
  for (const char* number : {"1e400", "-1e400", "9223372036854775808", "-18446744073709551616",
                             "18446744073709551616", "2147483648", "-2147483649", "1.5", "3.0",
                             "1e2", "123456789012345678901234567890", "\"5\"", "true"}) {
    const std::string text =
        std::string(R"({"agentId":"a","type":"T","timeoutSeconds":)") + number + "}";
    const auto result = FromJson<CreateJobRequest>(text);
    EXPECT_THAT(result, FailsWith(Errc::kInvalidRequest)) << number;
    EXPECT_THAT(ProblemFields(result), ElementsAre("timeoutSeconds")) << number;
  }
  for (const char* number : {"9223372036854775808", "1e400", "0.5", "-1"}) {
    const std::string text = std::string(R"({"seq":)") + number +
                             R"(,"timestamp":"2026-01-01T00:00:00Z",)" +
                             R"("level":"info","message":"m"})";
    EXPECT_THAT(ProblemFields(FromJson<LogLine>(text)), ElementsAre("seq")) << number;
  }
  EXPECT_THAT(FromJson<LogLine>(R"({"seq":9223372036854775807,"timestamp":"2026-01-01T00:00:00Z",)"
                                R"("level":"info","message":"m"})"),
              IsOk());
  EXPECT_THAT(ProblemFields(FromJson<ArtifactInfo>(R"({"sha256":"a","size":-1,"url":"u"})")),
              ElementsAre("size"));
  EXPECT_THAT(ProblemFields(FromJson<ArtifactInfo>(
                  R"({"sha256":"a","size":18446744073709551616,"url":"u"})")),
              ElementsAre("size"));
}

TEST(CodecTest, ReportsEveryWrongTypeAtOnce) {
  const auto result = FromJson<CreateJobRequest>(
      R"({"agentId": 5, "type": true, "payload": [], "priority": "high", "exclusive": 1,)"
      R"( "notBefore": 12345, "idempotencyKey": {}})");
  EXPECT_THAT(result, FailsWith(Errc::kInvalidRequest));
  // The payload's shape is checked by ValidateCreateJob (invalid_payload), not here.
  EXPECT_THAT(ProblemFields(result), ElementsAre("agentId", "type", "priority", "exclusive",
                                                 "notBefore", "idempotencyKey"));
  EXPECT_EQ(ProblemOf(result, "exclusive"), "must be true or false");
  EXPECT_THAT(result.error().message, HasSubstr("agentId: must be a string"));
}

TEST(CodecTest, ReportsEveryMissingRequiredField) {
  const auto result = FromJson<HelloRequest>("{}");
  EXPECT_THAT(result, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(result), ElementsAre("agentVersion", "jobTypes", "maxParallel"));
  EXPECT_EQ(ProblemOf(result, "maxParallel"), "is required");

  EXPECT_THAT(ProblemFields(FromJson<Job>("{}")),
              ElementsAre("id", "agentId", "type", "status", "createdAt", "updatedAt"));
  EXPECT_THAT(ProblemFields(FromJson<JobExecution>(R"({"jobId":"j"})")),
              ElementsAre("runId", "attempt", "type", "payload", "timeoutSeconds", "leaseSeconds",
                          "createdAt"));
  // null counts as absent.
  EXPECT_THAT(ProblemFields(FromJson<EnrollRequest>(R"({"agentId":null})")),
              ElementsAre("agentId"));
}

TEST(CodecTest, ProblemsInNestedItemsNameTheirDottedPath) {
  const auto result = FromJson<UpdatesRequest>(
      R"({"updates": [)"
      R"({"seq":1,"status":"RUNNING","percent":10,"timestamp":"2026-01-01T00:00:00Z"},)"
      R"({"seq":2,"status":"RUNNING","percent":20,"timestamp":"2026-01-01T00:00:00Z"},)"
      R"({"seq":3,"status":"RUNNING","percent":30,"timestamp":"2026-01-01T00:00:00Z"},)"
      R"({"seq":4,"status":"RUNNING","percent":101,"timestamp":"2026-01-01T00:00:00Z"}],)"
      R"( "logs": [{"seq":1,"timestamp":"x","level":"loud","message":"m"}],)"
      R"( "final": {"seq":5,"status":"FAILED","timestamp":"2026-01-01T00:00:00Z",)"
      R"(           "result": "done"}})");
  EXPECT_THAT(result, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(result), ElementsAre("updates[3].percent", "logs[0].timestamp",
                                                 "logs[0].level", "final.result", "final.error"));
  EXPECT_EQ(ProblemOf(result, "updates[3].percent"), "must be between 0 and 100");

  const auto labels = FromJson<CreateJobRequest>(
      R"({"selector": {"labels": {"region": 5, "tier": "gold"}}, "type": "T"})");
  EXPECT_THAT(ProblemFields(labels), ElementsAre("selector.labels.region"));
}

TEST(CodecTest, UnknownFieldsAreRejectedInRequestsAtEveryLevel) {
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(
                  R"({"agentId":"a","type":"T","bogus":1,"agentID":"b"})")),
              ElementsAre("bogus", "agentID"));
  EXPECT_EQ(ProblemOf(FromJson<CreateJobRequest>(R"({"agentId":"a","type":"T","x":null})"), "x"),
            "unknown field");
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(
                  R"({"selector":{"labels":{"a":"b"},"match":"all"},"type":"T"})")),
              ElementsAre("selector.match"));
  EXPECT_THAT(ProblemFields(FromJson<UpdatesRequest>(
                  R"({"updates":[{"seq":1,"status":"RUNNING","timestamp":"2026-01-01T00:00:00Z",)"
                  R"("eta":5}],"heartbeat":true})")),
              ElementsAre("updates[0].eta", "heartbeat"));
  EXPECT_THAT(ProblemFields(FromJson<UpdatesRequest>(
                  R"({"final":{"seq":1,"status":"FAILED","timestamp":"2026-01-01T00:00:00Z",)"
                  R"("error":{"code":"c","message":"m","extra":1}}})")),
              ElementsAre("final.error.extra"));
  EXPECT_THAT(
      ProblemFields(FromJson<HelloRequest>(R"({"agentVersion":"1","jobTypes":[],"maxParallel":1,)"
                                           R"("interruptedRuns":[{"runId":"r","seq":1}]})")),
      ElementsAre("interruptedRuns[0].seq"));
  EXPECT_THAT(ProblemFields(FromJson<NextRequest>(R"({"running":[],"free":2})")),
              ElementsAre("free"));
  EXPECT_THAT(ProblemFields(FromJson<EnrollRequest>(R"({"agentId":"a","role":"x"})")),
              ElementsAre("role"));
  EXPECT_THAT(ProblemFields(FromJson<TokenCreateRequest>(R"({"role":"admin","name":"n","x":1})")),
              ElementsAre("x"));
  EXPECT_THAT(ProblemFields(FromJson<SubscribeMessage>(
                  R"({"type":"subscribe","filter":{"agentId":"a","status":"RUNNING"}})")),
              ElementsAre("filter.status"));
}

TEST(CodecTest, UnknownFieldsAreIgnoredInResponses) {
  std::string job = ToJson(MinimalJob());
  job.insert(1, R"("futureField":{"x":[1]},)");
  ASSERT_THAT(FromJson<Job>(job), IsOk());
  EXPECT_EQ(*FromJson<Job>(job), MinimalJob());
  EXPECT_THAT(FromJson<NotifyResponse>(R"({"pending":0,"cancel":[],"hint":"x"})"), IsOk());
  EXPECT_THAT(FromJson<UpdatesResponse>(
                  R"({"ackedUpdateSeq":1,"ackedLogSeq":2,"cancelRequested":true,"n":null})"),
              IsOk());
}

TEST(CodecTest, BadTimestampsAreInvalidRequest) {
  for (const char* stamp : {"\"yesterday\"", "\"2026-13-01T00:00:00Z\"", "\"2026-02-30T00:00:00Z\"",
                            "\"2026-11-22 10:00:00\"", "\"2026-11-22T10:00:00\"", "12345", "\"\"",
                            "\"0001-01-01T00:00:00Z\"", "\"1969-12-31T23:59:59Z\"",
                            "\"9999-12-31T23:59:59Z\"", "\"2201-01-01T00:00:00Z\""}) {
    const std::string text = std::string(R"({"agentId":"a","type":"T","notBefore":)") + stamp + "}";
    const auto result = FromJson<CreateJobRequest>(text);
    EXPECT_THAT(result, FailsWith(Errc::kInvalidRequest)) << stamp;
    EXPECT_THAT(ProblemFields(result), ElementsAre("notBefore")) << stamp;
  }
}

TEST(CodecTest, BadEnumsAreInvalidRequest) {
  std::string job = ToJson(MinimalJob());
  const auto at = job.find("CREATED");
  job.replace(at, 7, "DONE");
  const auto result = FromJson<Job>(job);
  EXPECT_THAT(ProblemFields(result), ElementsAre("status"));
  EXPECT_EQ(ProblemOf(result, "status"),
            "must be one of CREATED, QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED");

  EXPECT_THAT(ProblemFields(FromJson<TokenCreateRequest>(R"({"role":"root","name":"n"})")),
              ElementsAre("role"));
  EXPECT_EQ(ProblemOf(FromJson<TokenCreateRequest>(R"({"role":"root","name":"n"})"), "role"),
            "must be one of viewer, operator, admin");
  EXPECT_THAT(ProblemFields(FromJson<TokenCreateRequest>(R"({"role":"agent","name":"n"})")),
              ElementsAre("role"));
  EXPECT_THAT(ProblemFields(FromJson<TokenCreateRequest>(R"({"role":"ADMIN","name":"n"})")),
              ElementsAre("role"));
  EXPECT_THAT(ProblemFields(FromJson<Event>(
                  R"({"seq":1,"type":"job.exploded","timestamp":"2026-01-01T00:00:00Z"})")),
              ElementsAre("type"));
}

TEST(CodecTest, LabelsNeedNamesAndStringValues) {
  EXPECT_THAT(FromJson<Labels>(R"({"":"x"})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(FromJson<Labels>(R"({"a":"x","b":1,"c":null})")),
              ElementsAre("b", "c"));
  EXPECT_THAT(ProblemFields(FromJson<EnrollRequest>(R"({"agentId":"a","labels":["x"]})")),
              ElementsAre("labels"));
}

// Exactly one of agentId and selector is ValidateCreateJob's (ValidateJobTest); the selector's
// form is read here.
TEST(CodecTest, CreateJobRequestReadsTheSelectorsForm) {
  EXPECT_THAT(FromJson<CreateJobRequest>(R"({"type":"T"})"), IsOk());
  EXPECT_THAT(
      FromJson<CreateJobRequest>(R"({"agentId":"a","selector":{"labels":{"r":"eu"}},"type":"T"})"),
      IsOk());
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(R"({"selector":{"labels":{}},"type":"T"})")),
              ElementsAre("selector.labels"));
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(R"({"selector":{},"type":"T"})")),
              ElementsAre("selector.labels"));
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(R"({"selector":"eu","type":"T"})")),
              ElementsAre("selector"));
}

// The shape only: the values are ValidateCreateJob's, reported there all at once
// (validate_job_test.cpp).
TEST(CodecTest, CreateJobRequestChecksTheShapeAndLeavesTheValuesToTheValidation) {
  const auto result = FromJson<CreateJobRequest>(
      R"({"agentId":"../etc","type":"","instanceId":".hidden","serverId":"a/b",)"
      R"("priority":101,"maxAttempts":0,"retryBackoffSeconds":-1,"timeoutSeconds":0,)"
      R"("idempotencyKey":""})");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->timeout_seconds, 0);
  EXPECT_EQ(result->agent_id, "../etc");
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(
                  R"({"agentId":5,"type":"T","maxAttempts":"21","colour":"red"})")),
              ElementsAre("agentId", "maxAttempts", "colour"));
}

TEST(CodecTest, PayloadIsKeptAsJsonOfFiniteNumbers) {
  // Not an object: kept for ValidateCreateJob to refuse as invalid_payload.
  const auto text = FromJson<CreateJobRequest>(R"({"agentId":"a","type":"T","payload":"x"})");
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(text->payload_json, R"("x")");
  EXPECT_THAT(ProblemFields(FromJson<CreateJobRequest>(
                  R"({"agentId":"a","type":"T","payload":{"x":[1,1e400]}})")),
              ElementsAre("payload.x[1]"));
  const auto no_payload = FromJson<CreateJobRequest>(R"({"agentId":"a","type":"T"})");
  ASSERT_THAT(no_payload, IsOk());
  EXPECT_EQ(no_payload->payload_json, "{}");
  const auto null_payload =
      FromJson<CreateJobRequest>(R"({"agentId":"a","type":"T","payload":null})");
  ASSERT_THAT(null_payload, IsOk());
  EXPECT_EQ(null_payload->payload_json, "{}");
}

TEST(CodecTest, FinalUpdateRulesAreEnforced) {
  const std::string stamp = R"("timestamp":"2026-01-01T00:00:00Z")";
  EXPECT_THAT(ProblemFields(FromJson<FinalUpdate>(R"({"seq":1,"status":"RUNNING",)" + stamp + "}")),
              ElementsAre("status"));
  EXPECT_EQ(
      ProblemOf(FromJson<FinalUpdate>(R"({"seq":1,"status":"FAILED",)" + stamp + "}"), "error"),
      "is required when status is FAILED");
  EXPECT_THAT(ProblemFields(FromJson<FinalUpdate>(R"({"seq":1,"status":"FAILED","error":null,)" +
                                                  stamp + "}")),
              ElementsAre("error"));
  EXPECT_THAT(
      FromJson<FinalUpdate>(
          R"({"seq":1,"status":"FAILED","error":{"code":"timeout","message":"m"},)" + stamp + "}"),
      IsOk());
  EXPECT_THAT(FromJson<FinalUpdate>(R"({"seq":1,"status":"CANCELLED",)" + stamp + "}"), IsOk());
  EXPECT_THAT(
      ProblemFields(FromJson<FinalUpdate>(
          R"({"seq":1,"status":"FAILED","error":{"code":"","message":"m"},)" + stamp + "}")),
      ElementsAre("error.code"));
  EXPECT_THAT(
      ProblemFields(FromJson<ProgressUpdate>(R"({"seq":1,"status":"COMPLETED",)" + stamp + "}")),
      ElementsAre("status"));
  EXPECT_THAT(ProblemFields(FromJson<ProgressUpdate>(
                  R"({"seq":1,"status":"RUNNING","percent":-1,)" + stamp + "}")),
              ElementsAre("percent"));
}

TEST(CodecTest, HelloResponseIntervalsMustBeOrdered) {
  EXPECT_THAT(ProblemFields(FromJson<HelloResponse>(
                  R"({"serverTime":"2026-01-01T00:00:00Z","pollIntervalSeconds":{"min":5,"max":3},)"
                  R"("longPollSeconds":25,"progressMinIntervalMs":1000,"heartbeatSeconds":15,)"
                  R"("leaseSeconds":60})")),
              ElementsAre("pollIntervalSeconds.max"));
  EXPECT_THAT(ProblemFields(FromJson<HelloResponse>(
                  R"({"serverTime":"2026-01-01T00:00:00Z","pollIntervalSeconds":3,)"
                  R"("longPollSeconds":25,"progressMinIntervalMs":1000,"heartbeatSeconds":15,)"
                  R"("leaseSeconds":60})")),
              ElementsAre("pollIntervalSeconds"));
}

TEST(CodecTest, ManyProblemsAreCappedAndCounted) {
  std::string text = R"({"running":[)";
  for (int i = 0; i < 200; ++i)
    text += (i == 0 ? "" : ",") + std::to_string(i);
  text += "]}";
  const auto result = FromJson<NextRequest>(text);
  ASSERT_THAT(result, FailsWith(Errc::kInvalidRequest));
  EXPECT_EQ(result.error().details.size(), kMaxFieldProblems);
  EXPECT_EQ(result.error().details[0].field, "running[0]");
  EXPECT_THAT(result.error().message,
              HasSubstr("running[0]: must be a string (and 199 more problems)"));
}

template <class T>
void ExpectValueOrCleanFailure(const std::string& text) {
  const Expected<T> result = FromJson<T>(text);
  if (result) return;
  EXPECT_TRUE(result.error().code == Errc::kInvalidJson ||
              result.error().code == Errc::kInvalidRequest)
      << result.error().Describe() << " for " << text;
}

// Every truncation and many single-byte corruptions of valid messages decode to a value or to
// invalid_json / invalid_request: nothing throws, crashes or reports an internal error.
TEST(CodecTest, CorruptedMessagesNeverCrashOrFailInternally) {
  const std::vector<std::string> samples = {
      ToJson(UpdatesRequest{
          {ProgressUpdate{7, RunStatus::kRunning, 42, "m", "s", At(1)}},
          {LogLine{1, At(2), "info", "x"}},
          FinalUpdate{8, RunStatus::kFailed, R"({"a":[1]})", FullRunError(), At(3)}}),
      ToJson(FullJob()),
      ToJson(CreateJobRequest{"orb-1",
                              std::nullopt,
                              "T",
                              "i",
                              "s",
                              R"({"k":1.5})",
                              1,
                              true,
                              2,
                              3,
                              4,
                              At(5),
                              "key",
                              {"dep-1", "dep-2"}}),
  };
  const char replacements[] = {'"', '{', '}', '[',  ']',  ',',    ':',
                               '0', '-', 'e', '\\', '\0', '\xff', 'n'};
  const auto check = [](const std::string& text) {
    ExpectValueOrCleanFailure<UpdatesRequest>(text);
    ExpectValueOrCleanFailure<Job>(text);
    ExpectValueOrCleanFailure<CreateJobRequest>(text);
  };

  for (const auto& sample : samples) {
    for (std::size_t size = 0; size < sample.size(); ++size)
      check(sample.substr(0, size));
    for (std::size_t i = 0; i < sample.size(); ++i) {
      for (const char c : replacements) {
        std::string corrupted = sample;
        corrupted[i] = c;
        check(corrupted);
      }
    }
  }
}

// ---- CanonicalJsonObject ----

TEST(CodecTest, CanonicalJsonObjectCompactsAnObject) {
  EXPECT_EQ(CanonicalJsonObject(" { \"b\" : 1, \"a\" : [ true, null, \"x\" ] } ").value(),
            R"({"b":1,"a":[true,null,"x"]})");
  EXPECT_EQ(CanonicalJsonObject("{}").value(), "{}");
}

TEST(CodecTest, CanonicalJsonObjectRejectsWhatIsNotAnObject) {
  EXPECT_THAT(CanonicalJsonObject("[]"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(CanonicalJsonObject("3"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(CanonicalJsonObject("{"), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(CanonicalJsonObject(""), FailsWith(Errc::kInvalidJson));
  const auto infinite = CanonicalJsonObject(R"({"a":{"b":[0,-1e999]}})");
  EXPECT_THAT(infinite, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(infinite), ElementsAre("a.b[1]"));
  EXPECT_THAT(CanonicalJsonObject(std::string(100, '{')), FailsWith(Errc::kInvalidJson));
}

TEST(CodecTest, InvalidEmbeddedTextIsEncodedAsEmptyPayloadAndNullResult) {
  Job job = MinimalJob();
  job.payload_json = "not json";
  job.result_json = "[1]";
  const std::string json = ToJson(job);
  EXPECT_THAT(json, HasSubstr(R"("payload":{})"));
  EXPECT_THAT(json, HasSubstr(R"("result":null)"));
  EXPECT_THAT(FromJson<Job>(json), IsOk());
}

TEST(CodecTest, AgentStatusReportsRoundTripAndMatchTheApiAddition) {
  const AgentStatusReport unhealthy{
      false,
      {{"journal_unwritable", "the journal cannot be written: io: No space left on device"}},
      At(1795000000123)};
  EXPECT_EQ(ToJson(unhealthy),
            R"({"healthy":false,"problems":[{"code":"journal_unwritable","message":)"
            R"("the journal cannot be written: io: No space left on device"}],)"
            R"("reportedAt":"2026-11-18T11:06:40.123Z"})");
  auto back = FromJson<AgentStatusReport>(ToJson(unhealthy));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, unhealthy);
  const AgentStatusReport healthy{true, {}, At(1795000000000)};
  EXPECT_EQ(ToJson(healthy),
            R"({"healthy":true,"problems":[],"reportedAt":"2026-11-18T11:06:40.000Z"})");
  auto minimal =
      FromJson<AgentStatusReport>(R"({"healthy":true,"reportedAt":"2026-11-18T11:06:40Z"})");
  ASSERT_THAT(minimal, IsOk());
  EXPECT_TRUE(minimal->problems.empty());
}

TEST(CodecTest, AgentStatusReportsAreCheckedLikeEveryRequest) {
  const auto bad = FromJson<AgentStatusReport>(
      R"({"healthy":"no","problems":[{"code":"","message":"m","hint":1},{"message":"m"}],)"
      R"("reportedAt":"yesterday","uptime":5})");
  EXPECT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(bad), ElementsAre("healthy", "problems[0].code", "problems[0].hint",
                                              "problems[1].code", "reportedAt", "uptime"));
  std::string many = R"({"healthy":false,"reportedAt":"2026-11-18T11:06:40Z","problems":[)";
  for (int i = 0; i < 33; ++i)
    many += std::string(i > 0 ? "," : "") + R"({"code":"c","message":"m"})";
  many += "]}";
  EXPECT_THAT(ProblemFields(FromJson<AgentStatusReport>(many)), ElementsAre("problems"));
}

}  // namespace
}  // namespace orb::protocol
