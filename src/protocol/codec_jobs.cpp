// Codecs of the job model and the operator's job calls: protocol.md §3 and §5 (POST/GET /v1/jobs).

#include <string>

#include "protocol/codec_detail.hpp"

namespace orb::protocol::codec_detail {

// ---- RunError ----

bool Read(Decoder& d, const std::string& path, const json::value& v, RunError& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("code", out.code)) CheckNotEmpty(d, r.Path("code"), out.code);
  r.Required("message", out.message);
  r.Optional("stack", out.stack);
  r.Optional("retryable", out.retryable);
  return r.Finish();
}

json::value Encode(const RunError& value) {
  return json::object{{"code", Str(value.code)},
                      {"message", Str(value.message)},
                      {"stack", EncodeArray(value.stack)},
                      {"retryable", value.retryable}};
}

// ---- Job ----

bool Read(Decoder& d, const std::string& path, const json::value& v, Job& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("id", out.id);
  r.Required("agentId", out.agent_id);
  r.Required("type", out.type);
  r.Optional("instanceId", out.instance_id);
  r.Optional("serverId", out.server_id);
  r.OptionalObjectJson("payload", out.payload_json);
  r.Required("status", out.status);
  r.Optional("priority", out.priority);
  r.Optional("exclusive", out.exclusive);
  r.Optional("maxAttempts", out.max_attempts);
  r.Optional("retryBackoffSeconds", out.retry_backoff_seconds);
  r.Optional("timeoutSeconds", out.timeout_seconds);
  r.Optional("notBefore", out.not_before);
  r.Optional("idempotencyKey", out.idempotency_key);
  r.Optional("batchId", out.batch_id);
  r.Optional("attempts", out.attempts);
  r.Optional("cancelRequested", out.cancel_requested);
  r.Optional("currentRunId", out.current_run_id);
  r.Optional("lastError", out.last_error);
  r.OptionalObjectJson("result", out.result_json);
  r.Required("createdAt", out.created_at);
  r.Required("updatedAt", out.updated_at);
  r.Optional("dependsOn", out.depends_on);
  r.Optional("waitingFor", out.waiting_for);
  r.Optional("rolloutId", out.rollout_id);
  r.Optional("scheduleId", out.schedule_id);
  r.Optional("fireTime", out.fire_time);
  return r.Finish();
}

json::value Encode(const Job& value) {
  json::object o;
  o.reserve(24);
  o.emplace("id", Str(value.id));
  o.emplace("agentId", Str(value.agent_id));
  o.emplace("type", Str(value.type));
  o.emplace("instanceId", Nullable(value.instance_id));
  o.emplace("serverId", Nullable(value.server_id));
  o.emplace("payload", EmbeddedObject(value.payload_json));
  o.emplace("status", Str(ToString(value.status)));
  o.emplace("priority", value.priority);
  o.emplace("exclusive", value.exclusive);
  o.emplace("maxAttempts", value.max_attempts);
  o.emplace("retryBackoffSeconds", value.retry_backoff_seconds);
  o.emplace("timeoutSeconds", value.timeout_seconds);
  o.emplace("notBefore", NullableTime(value.not_before));
  o.emplace("idempotencyKey", Nullable(value.idempotency_key));
  o.emplace("batchId", Nullable(value.batch_id));
  o.emplace("attempts", value.attempts);
  o.emplace("cancelRequested", value.cancel_requested);
  o.emplace("currentRunId", Nullable(value.current_run_id));
  o.emplace("lastError", value.last_error ? Encode(*value.last_error) : json::value(nullptr));
  o.emplace("result", NullableEmbeddedObject(value.result_json));
  o.emplace("createdAt", Time(value.created_at));
  o.emplace("updatedAt", Time(value.updated_at));
  o.emplace("dependsOn", EncodeArray(value.depends_on));
  o.emplace("waitingFor", EncodeArray(value.waiting_for));
  // Only on a rollout's jobs (docs/protocol.md "Rollouts").
  if (value.rollout_id) o.emplace("rolloutId", Str(*value.rollout_id));
  o.emplace("scheduleId", Nullable(value.schedule_id));
  o.emplace("fireTime", NullableTime(value.fire_time));
  return o;
}

// ---- Run ----

bool Read(Decoder& d, const std::string& path, const json::value& v, Run& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("id", out.id);
  r.Required("jobId", out.job_id);
  r.Required("attempt", out.attempt);
  r.Required("status", out.status);
  r.Required("startedAt", out.started_at);
  r.Optional("finishedAt", out.finished_at);
  if (r.Optional("percent", out.percent)) CheckRange(d, r.Path("percent"), *out.percent, 0, 100);
  r.Optional("message", out.message);
  r.OptionalObjectJson("result", out.result_json);
  r.Optional("error", out.error);
  if (r.Optional("logsDropped", out.logs_dropped)) {
    CheckRange(d, r.Path("logsDropped"), out.logs_dropped, std::int64_t{0}, kMaxInt64);
  }
  return r.Finish();
}

json::value Encode(const Run& value) {
  json::object o;
  o.reserve(11);
  o.emplace("id", Str(value.id));
  o.emplace("jobId", Str(value.job_id));
  o.emplace("attempt", value.attempt);
  o.emplace("status", Str(ToString(value.status)));
  o.emplace("startedAt", Time(value.started_at));
  o.emplace("finishedAt", NullableTime(value.finished_at));
  o.emplace("percent", NullableInt(value.percent));
  o.emplace("message", Nullable(value.message));
  o.emplace("result", NullableEmbeddedObject(value.result_json));
  o.emplace("error", value.error ? Encode(*value.error) : json::value(nullptr));
  if (value.logs_dropped > 0) o.emplace("logsDropped", value.logs_dropped);
  return o;
}

// ---- JobDetail: the job's fields plus "runs" in one object ----

bool Read(Decoder& d, const std::string& path, const json::value& v, JobDetail& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  const std::size_t before = d.problem_count();
  Read(d, path, v, out.job);
  ObjectReader r(d, path, *object);
  r.Required("runs", out.runs);
  r.Finish();
  return d.problem_count() == before;
}

json::value Encode(const JobDetail& value) {
  json::value job = Encode(value.job);
  job.get_object().emplace("runs", EncodeArray(value.runs));
  return job;
}

// ---- CreateJobRequest (POST /v1/jobs) ----

bool Read(Decoder& d, const std::string& path, const json::value& v, CreateJobRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  // The shape only: the JSON types, unknown fields, the selector's form. The values (names,
  // ranges, agentId or selector, the type, the payload, the key, dependsOn) are
  // ValidateCreateJob's, which reports all of them at once (protocol.md §5 "Create").
  r.Optional("agentId", out.agent_id);
  ReadSelector(d, r, out.selector_labels);
  r.Required("type", out.type);
  r.Optional("instanceId", out.instance_id);
  r.Optional("serverId", out.server_id);
  r.OptionalValueJson("payload", out.payload_json);
  r.Optional("priority", out.priority);
  r.Optional("exclusive", out.exclusive);
  r.Optional("maxAttempts", out.max_attempts);
  r.Optional("retryBackoffSeconds", out.retry_backoff_seconds);
  r.Optional("timeoutSeconds", out.timeout_seconds);
  r.Optional("notBefore", out.not_before);
  r.Optional("idempotencyKey", out.idempotency_key);
  // Only the JSON types here; the count, the ids' form and duplicates are ValidateCreateJob's.
  r.Optional("dependsOn", out.depends_on);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, JobTemplate& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  // The type's name and the payload's shape are ValidateCreateJob's, as for POST /v1/jobs.
  r.Required("type", out.type);
  if (r.Optional("instanceId", out.instance_id)) {
    CheckName(d, r.Path("instanceId"), *out.instance_id);
  }
  if (r.Optional("serverId", out.server_id)) CheckName(d, r.Path("serverId"), *out.server_id);
  r.OptionalValueJson("payload", out.payload_json);
  r.Optional("priority", out.priority);
  r.Optional("exclusive", out.exclusive);
  r.Optional("maxAttempts", out.max_attempts);
  r.Optional("retryBackoffSeconds", out.retry_backoff_seconds);
  r.Optional("timeoutSeconds", out.timeout_seconds);
  return r.Finish();
}

json::value Encode(const JobTemplate& value) {
  json::object o;
  o.emplace("type", Str(value.type));
  if (value.instance_id) o.emplace("instanceId", Str(*value.instance_id));
  if (value.server_id) o.emplace("serverId", Str(*value.server_id));
  o.emplace("payload", EmbeddedValue(value.payload_json));
  if (value.priority) o.emplace("priority", *value.priority);
  if (value.exclusive) o.emplace("exclusive", *value.exclusive);
  if (value.max_attempts) o.emplace("maxAttempts", *value.max_attempts);
  if (value.retry_backoff_seconds) o.emplace("retryBackoffSeconds", *value.retry_backoff_seconds);
  if (value.timeout_seconds) o.emplace("timeoutSeconds", *value.timeout_seconds);
  return o;
}

json::value Encode(const CreateJobRequest& value) {
  json::object o;
  if (value.agent_id) o.emplace("agentId", Str(*value.agent_id));
  if (value.selector_labels) {
    o.emplace("selector", json::object{{"labels", Encode(*value.selector_labels)}});
  }
  o.emplace("type", Str(value.type));
  if (value.instance_id) o.emplace("instanceId", Str(*value.instance_id));
  if (value.server_id) o.emplace("serverId", Str(*value.server_id));
  // As given: a decoded request must encode to what decodes to it again (a payload that is no
  // object is ValidateCreateJob's invalid_payload, not something to turn into {}).
  o.emplace("payload", EmbeddedValue(value.payload_json));
  if (value.priority) o.emplace("priority", *value.priority);
  if (value.exclusive) o.emplace("exclusive", *value.exclusive);
  if (value.max_attempts) o.emplace("maxAttempts", *value.max_attempts);
  if (value.retry_backoff_seconds) o.emplace("retryBackoffSeconds", *value.retry_backoff_seconds);
  if (value.timeout_seconds) o.emplace("timeoutSeconds", *value.timeout_seconds);
  if (value.not_before) o.emplace("notBefore", Time(*value.not_before));
  if (value.idempotency_key) o.emplace("idempotencyKey", Str(*value.idempotency_key));
  if (!value.depends_on.empty()) o.emplace("dependsOn", EncodeArray(value.depends_on));
  return o;
}

// ---- BatchCreated, JobList ----

bool Read(Decoder& d, const std::string& path, const json::value& v, BatchCreated& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("batchId", out.batch_id);
  r.Required("jobs", out.jobs);
  return r.Finish();
}

json::value Encode(const BatchCreated& value) {
  return json::object{{"batchId", Str(value.batch_id)}, {"jobs", EncodeArray(value.jobs)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, JobList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("jobs", out.jobs);
  r.Optional("nextCursor", out.next_cursor);
  return r.Finish();
}

json::value Encode(const JobList& value) {
  return json::object{{"jobs", EncodeArray(value.jobs)},
                      {"nextCursor", Nullable(value.next_cursor)}};
}

}  // namespace orb::protocol::codec_detail
