#include "protocol/validate_job.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/codec.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

CreateJobRequest Prune() {
  CreateJobRequest request;
  request.agent_id = "orb-7";
  request.type = "PRUNE_BACKUPS";
  request.instance_id = "mc-1";
  request.payload_json = R"({"keepLast": 3})";
  return request;
}

CreateJobRequest Activate() {
  CreateJobRequest request;
  request.agent_id = "orb-7";
  request.type = "ACTIVATE_BUILD";
  request.server_id = "paper";
  request.payload_json = R"({"buildId": "1.21.4-b87"})";
  return request;
}

std::vector<std::string> Fields(const Status& status) {
  std::vector<std::string> fields;
  if (!status) {
    for (const auto& problem : status.error().details)
      fields.push_back(problem.field);
  }
  return fields;
}

TEST(ValidateJobTest, AcceptsAValidInstanceJobAndAValidServerJob) {
  EXPECT_THAT(ValidateCreateJob(Prune()), IsOk());
  EXPECT_THAT(ValidateCreateJob(Activate()), IsOk());
}

TEST(ValidateJobTest, AcceptsEveryBoundOfTheNumericFields) {
  for (const int priority : {-100, 0, 100}) {
    auto request = Prune();
    request.priority = priority;
    request.max_attempts = priority == -100 ? 1 : 20;
    request.retry_backoff_seconds = priority == -100 ? 1 : 600;
    request.timeout_seconds = priority == -100 ? 1 : 86400;
    EXPECT_THAT(ValidateCreateJob(request), IsOk()) << priority;
  }
}

TEST(ValidateJobTest, UnknownTypeIsUnknownJobType) {
  auto request = Prune();
  request.type = "RUN_SHELL";
  const Status status = ValidateCreateJob(request);
  ASSERT_THAT(status, FailsWith(Errc::kUnknownJobType));
  EXPECT_THAT(Fields(status), ElementsAre("type"));
  EXPECT_THAT(status.error().message, HasSubstr("RUN_SHELL"));
}

TEST(ValidateJobTest, InstanceTypesNeedInstanceIdAndRefuseServerId) {
  auto missing = Prune();
  missing.instance_id.reset();
  const Status status = ValidateCreateJob(missing);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(status), ElementsAre("instanceId"));

  auto both = Prune();
  both.server_id = "paper";
  EXPECT_THAT(Fields(ValidateCreateJob(both)), ElementsAre("serverId"));

  auto bad = Prune();
  bad.instance_id = "../etc";
  EXPECT_THAT(Fields(ValidateCreateJob(bad)), ElementsAre("instanceId"));
}

TEST(ValidateJobTest, ServerTypesNeedServerIdAndRefuseInstanceId) {
  auto missing = Activate();
  missing.server_id.reset();
  missing.instance_id = "mc-1";
  const Status status = ValidateCreateJob(missing);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(status), ElementsAre("instanceId", "serverId"));

  auto bad = Activate();
  bad.server_id = std::string(65, 'a');
  EXPECT_THAT(Fields(ValidateCreateJob(bad)), ElementsAre("serverId"));
}

TEST(ValidateJobTest, AgentIdAndSelectorAreExclusiveAndChecked) {
  auto neither = Prune();
  neither.agent_id.reset();
  EXPECT_THAT(Fields(ValidateCreateJob(neither)), ElementsAre("agentId"));

  auto both = Prune();
  both.selector_labels = Labels{{"region", "eu"}};
  EXPECT_THAT(Fields(ValidateCreateJob(both)), ElementsAre("selector"));

  auto bad = Prune();
  bad.agent_id = "-orb";
  EXPECT_THAT(Fields(ValidateCreateJob(bad)), ElementsAre("agentId"));
}

TEST(ValidateJobTest, SelectorLabelsMustBeNonEmptyAndBounded) {
  auto ok = Prune();
  ok.agent_id.reset();
  ok.selector_labels = Labels{{"region", "eu-west"}, {"orb.dev/role", "game host"}};
  EXPECT_THAT(ValidateCreateJob(ok), IsOk());

  auto empty = ok;
  empty.selector_labels = Labels{};
  EXPECT_THAT(Fields(ValidateCreateJob(empty)), ElementsAre("selector.labels"));

  auto bad = ok;
  bad.selector_labels =
      Labels{{"", "x"}, {"region", ""}, {"ok", std::string(257, 'v')}, {"x y", "1"}};
  EXPECT_THAT(Fields(ValidateCreateJob(bad)),
              ElementsAre("selector.labels.", "selector.labels.ok", "selector.labels.region",
                          "selector.labels.x y"));

  auto many = ok;
  many.selector_labels = Labels{};
  for (int i = 0; i < 33; ++i)
    (*many.selector_labels)["k" + std::to_string(i)] = "v";
  EXPECT_THAT(Fields(ValidateCreateJob(many)), ElementsAre("selector.labels"));
}

TEST(ValidateJobTest, NumericFieldsOutsideTheirRangesAreNamed) {
  auto request = Prune();
  request.priority = 101;
  request.max_attempts = 0;
  request.retry_backoff_seconds = 601;
  request.timeout_seconds = 86401;
  const Status status = ValidateCreateJob(request);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(status),
              ElementsAre("priority", "maxAttempts", "retryBackoffSeconds", "timeoutSeconds"));
  EXPECT_EQ(status.error().details[0].problem, "must be an integer between -100 and 100");

  auto low = Prune();
  low.priority = -101;
  low.max_attempts = 21;
  low.retry_backoff_seconds = 0;
  low.timeout_seconds = 0;
  EXPECT_THAT(Fields(ValidateCreateJob(low)),
              ElementsAre("priority", "maxAttempts", "retryBackoffSeconds", "timeoutSeconds"));
}

TEST(ValidateJobTest, IdempotencyKeyIsOneTo128PrintableCharacters) {
  auto request = Prune();
  request.idempotency_key = "deploy 2026-11-22 #1";
  EXPECT_THAT(ValidateCreateJob(request), IsOk());
  request.idempotency_key = std::string(128, 'k');
  EXPECT_THAT(ValidateCreateJob(request), IsOk());
  for (const std::string& bad :
       {std::string(), std::string(129, 'k'), std::string("a\nb"), std::string("caf\xc3\xa9")}) {
    request.idempotency_key = bad;
    EXPECT_THAT(Fields(ValidateCreateJob(request)), ElementsAre("idempotencyKey"));
  }
}

TEST(ValidateJobTest, DependsOnHasAtMost32DistinctIds) {
  auto request = Prune();
  for (int i = 0; i < 32; ++i)
    request.depends_on.push_back("job-" + std::to_string(i));
  EXPECT_THAT(ValidateCreateJob(request), IsOk());

  request.depends_on.push_back("job-32");
  const Status too_many = ValidateCreateJob(request);
  EXPECT_THAT(too_many, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(too_many), ElementsAre("dependsOn"));
  EXPECT_THAT(too_many.error().message, HasSubstr("at most 32"));

  request.depends_on = {"job-1", "", "job-1", std::string(129, 'j'), "a\nb"};
  const Status bad = ValidateCreateJob(request);
  EXPECT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(bad),
              ElementsAre("dependsOn[1]", "dependsOn[2]", "dependsOn[3]", "dependsOn[4]"));
  EXPECT_THAT(bad.error().details[1].problem, HasSubstr("repeats dependsOn[0]"));
}

TEST(ValidateJobTest, PayloadProblemsAreInvalidPayloadWithWirePaths) {
  auto request = Prune();
  request.payload_json = R"({"keepLast": -1, "keepDaily": "7"})";
  const Status status = ValidateCreateJob(request);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Fields(status), ElementsAre("payload.keepLast", "payload.keepDaily"));
  EXPECT_EQ(status.error().message,
            "payload.keepLast: must be an integer between 0 and 1000000 (and 1 more problem)");
}

TEST(ValidateJobTest, RequestAndPayloadProblemsAreReportedTogether) {
  auto request = Prune();
  request.priority = 500;
  request.instance_id = "a/b";
  request.payload_json = "{}";
  const Status status = ValidateCreateJob(request);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(status), ElementsAre("instanceId", "payload", "priority"));
  EXPECT_THAT(status.error().message, ::testing::StartsWith("instanceId: "));
}

TEST(ValidateJobTest, MessageNamesTheProblemThatDecidedTheCode) {
  auto unknown = Prune();
  unknown.agent_id.reset();
  unknown.type = "NOPE";
  const Status status = ValidateCreateJob(unknown);
  ASSERT_THAT(status, FailsWith(Errc::kUnknownJobType));
  EXPECT_THAT(Fields(status), ElementsAre("agentId", "type"));
  EXPECT_EQ(status.error().message, "type: is not a known job type: \"NOPE\" (and 1 more problem)");

  auto payload_first = Prune();
  payload_first.payload_json = "{}";
  payload_first.priority = 1000;
  const Status mixed = ValidateCreateJob(payload_first);
  ASSERT_THAT(mixed, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(mixed.error().message, ::testing::StartsWith("priority: "));
}

TEST(ValidateJobTest, OversizedPayloadIsPayloadTooLargeAndNotParsed) {
  auto request = Prune();
  request.payload_json = R"({"keepLast": 3, "x": ")" + std::string(70 * 1024, 'a') + "\"}";
  const Status status = ValidateCreateJob(request);
  ASSERT_THAT(status, FailsWith(Errc::kPayloadTooLarge));
  EXPECT_THAT(Fields(status), ElementsAre("payload"));
  EXPECT_THAT(status.error().details[0].problem, HasSubstr("65536"));

  request.payload_json = R"({"keepLast": 3})";
  EXPECT_THAT(ValidateCreateJob(request, 10), FailsWith(Errc::kPayloadTooLarge));
  EXPECT_THAT(ValidateCreateJob(request, request.payload_json.size()), IsOk());
}

TEST(ValidateJobTest, BrokenPayloadTextIsInvalidPayload) {
  auto request = Prune();
  for (const std::string_view text : {"", "[1]", "{", "null", "{\"keepLast\": 1e999}"}) {
    request.payload_json = text;
    const Status status = ValidateCreateJob(request);
    ASSERT_FALSE(status) << text;
    EXPECT_EQ(status.error().code, Errc::kInvalidPayload) << text;
  }
}

// What POST /v1/jobs answers: the body decoded, then validated.
Status DecodeAndValidate(const std::string& body) {
  auto request = FromJson<CreateJobRequest>(body);
  if (!request) return Fail(request.error());
  return ValidateCreateJob(*request);
}

// protocol.md §3: "anything else is 400 unknown_job_type", the empty string included. The decoder
// used to refuse it first, as invalid_request.
TEST(ValidateJobTest, AnEmptyTypeIsUnknownJobTypeOnceDecoded) {
  const auto status = DecodeAndValidate(R"({"agentId":"orb-7","type":"","instanceId":"mc-1"})");
  EXPECT_THAT(status, FailsWith(Errc::kUnknownJobType));
  EXPECT_THAT(Fields(status), ElementsAre("type"));
}

// protocol.md §1: a payload problem is invalid_payload, its not being an object included. The
// decoder used to refuse it first, as invalid_request.
TEST(ValidateJobTest, APayloadThatIsNotAnObjectIsInvalidPayloadOnceDecoded) {
  for (const std::string payload : {"[]", "[1]", R"("x")", "5", "true"}) {
    const auto status = DecodeAndValidate(
        R"({"agentId":"orb-7","type":"PRUNE_BACKUPS","instanceId":"mc-1","payload":)" + payload +
        "}");
    EXPECT_THAT(status, FailsWith(Errc::kInvalidPayload)) << payload;
    EXPECT_THAT(Fields(status), ElementsAre("payload")) << payload;
  }
  // The type decides first: an unknown type with a bad payload is unknown_job_type.
  EXPECT_THAT(DecodeAndValidate(R"({"agentId":"orb-7","type":"NOPE","payload":[]})"),
              FailsWith(Errc::kUnknownJobType));
  // A null payload is no payload.
  EXPECT_THAT(DecodeAndValidate(R"({"agentId":"orb-7","type":"PRUNE_BACKUPS","instanceId":"mc-1",)"
                                R"("payload":null})"),
              FailsWith(Errc::kInvalidPayload));
}

// The one label rule (enrolment, hello, an agent's config, selectors).
TEST(ValidateJobTest, LabelsHaveSelectorKeysAndTextValues) {
  std::vector<FieldProblem> problems;
  CheckLabels("labels", {{"game/id", "valheim"}, {"region", "Île-de-France"}}, problems);
  EXPECT_TRUE(problems.empty());
  CheckLabels("labels", {{"a b", "x"}, {"tier", "gold\tsilver"}, {"empty", ""}}, problems);
  std::vector<std::string> fields;
  for (const auto& problem : problems)
    fields.push_back(problem.field);
  EXPECT_THAT(fields, ElementsAre("labels.a b", "labels.empty", "labels.tier"));
  problems.clear();
  Labels many;
  for (int i = 0; i < 33; ++i)
    many["k" + std::to_string(i)] = "v";
  CheckLabels("labels", many, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].field, "labels");
}

// A review found a create's problems reported in two rounds and with two ranges: the decoder
// checked names and numbers itself (timeoutSeconds up to a week, retryBackoffSeconds from 0) and
// stopped before the validation. It checks the JSON's shape only now; every value problem comes
// from here, at once, with the ranges protocol.md gives.
TEST(ValidateJobTest, EveryValueProblemOfABodyIsReportedAtOnceWithTheDocumentedRanges) {
  const auto status = DecodeAndValidate(
      R"({"agentId":"../etc","type":"PRUNE_BACKUPS","instanceId":".hidden",)"
      R"("payload":{"keepLast":3},"priority":101,"maxAttempts":0,"retryBackoffSeconds":601,)"
      R"("timeoutSeconds":86401,"idempotencyKey":""})");
  EXPECT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(status),
              ElementsAre("agentId", "instanceId", "priority", "maxAttempts", "retryBackoffSeconds",
                          "timeoutSeconds", "idempotencyKey"));
  ASSERT_FALSE(status);
  const auto& details = status.error().details;
  EXPECT_THAT(details[4].problem, HasSubstr("1 and 600"));
  EXPECT_THAT(details[5].problem, HasSubstr("1 and 86400"));
  EXPECT_THAT(DecodeAndValidate(R"({"agentId":"orb-7","type":"PRUNE_BACKUPS","instanceId":"mc-1",)"
                                R"("payload":{"keepLast":3},"timeoutSeconds":604800})"),
              FailsWith(Errc::kInvalidRequest));
  // Both or neither of agentId and selector, from here too.
  EXPECT_THAT(Fields(DecodeAndValidate(
                  R"({"type":"PRUNE_BACKUPS","instanceId":"mc-1","payload":{"keepLast":3}})")),
              ElementsAre("agentId"));
}

}  // namespace
}  // namespace orb::protocol
