// Codecs of the agent API: protocol.md §4 (hello, notify, jobs/next, runs/{runId}/updates).

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "protocol/codec_detail.hpp"

namespace orb::protocol::codec_detail {
namespace {

constexpr int kMaxMaxParallel = 1024;
constexpr int kMaxInt = std::numeric_limits<int>::max();
constexpr std::size_t kMaxProblems = 32;  // a status report names a few problems, never a list
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};

bool CheckLogLevel(Decoder& d, const std::string& path, const std::string& level) {
  for (const auto& known : kLogLevels) {
    if (level == known) return true;
  }
  d.Problem(path, "must be one of trace, debug, info, warn, error");
  return false;
}

}  // namespace

// ---- hello ----

bool Read(Decoder& d, const std::string& path, const json::value& v, InterruptedRun& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("runId", out.run_id)) CheckNotEmpty(d, r.Path("runId"), out.run_id);
  if (r.Optional("lastSeq", out.last_seq)) {
    CheckRange(d, r.Path("lastSeq"), out.last_seq, 0, kMaxInt64);
  }
  return r.Finish();
}

json::value Encode(const InterruptedRun& value) {
  return json::object{{"runId", Str(value.run_id)}, {"lastSeq", value.last_seq}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, HelloRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("agentVersion", out.agent_version)) {
    CheckNotEmpty(d, r.Path("agentVersion"), out.agent_version);
  }
  r.Required("jobTypes", out.job_types);
  if (r.Required("maxParallel", out.max_parallel)) {
    CheckRange(d, r.Path("maxParallel"), out.max_parallel, 1, kMaxMaxParallel);
  }
  r.Optional("labels", out.labels);
  r.Optional("interruptedRuns", out.interrupted_runs);
  return r.Finish();
}

json::value Encode(const HelloRequest& value) {
  return json::object{{"agentVersion", Str(value.agent_version)},
                      {"jobTypes", EncodeArray(value.job_types)},
                      {"maxParallel", value.max_parallel},
                      {"labels", Encode(value.labels)},
                      {"interruptedRuns", EncodeArray(value.interrupted_runs)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, HelloResponse& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("serverTime", out.server_time);
  const std::string poll_path = r.Path("pollIntervalSeconds");
  if (const json::value* poll = r.Find("pollIntervalSeconds")) {
    if (const json::object* poll_object = AsObject(d, poll_path, *poll)) {
      ObjectReader p(d, poll_path, *poll_object);
      const bool has_min = p.Required("min", out.poll_interval_min_seconds) &&
                           CheckRange(d, p.Path("min"), out.poll_interval_min_seconds, 0, 3600);
      const bool has_max = p.Required("max", out.poll_interval_max_seconds) &&
                           CheckRange(d, p.Path("max"), out.poll_interval_max_seconds, 0, 3600);
      if (has_min && has_max && out.poll_interval_min_seconds > out.poll_interval_max_seconds) {
        d.Problem(p.Path("max"), "must not be less than min");
      }
      p.Finish();
    }
  } else {
    d.Problem(poll_path, "is required");
  }
  r.Required("longPollSeconds", out.long_poll_seconds);
  r.Required("progressMinIntervalMs", out.progress_min_interval_ms);
  r.Required("heartbeatSeconds", out.heartbeat_seconds);
  r.Required("leaseSeconds", out.lease_seconds);
  return r.Finish();
}

json::value Encode(const HelloResponse& value) {
  return json::object{
      {"serverTime", Time(value.server_time)},
      {"pollIntervalSeconds", json::object{{"min", value.poll_interval_min_seconds},
                                           {"max", value.poll_interval_max_seconds}}},
      {"longPollSeconds", value.long_poll_seconds},
      {"progressMinIntervalMs", value.progress_min_interval_ms},
      {"heartbeatSeconds", value.heartbeat_seconds},
      {"leaseSeconds", value.lease_seconds}};
}

// ---- notify, jobs/next ----

bool Read(Decoder& d, const std::string& path, const json::value& v, NotifyResponse& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("pending", out.pending)) CheckRange(d, r.Path("pending"), out.pending, 0, kMaxInt);
  r.Optional("cancel", out.cancel);
  return r.Finish();
}

json::value Encode(const NotifyResponse& value) {
  return json::object{{"pending", value.pending}, {"cancel", EncodeArray(value.cancel)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, NextRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Optional("running", out.running);
  return r.Finish();
}

json::value Encode(const NextRequest& value) {
  return json::object{{"running", EncodeArray(value.running)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, JobExecution& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("jobId", out.job_id);
  r.Required("runId", out.run_id);
  r.Required("attempt", out.attempt);
  r.Required("type", out.type);
  r.Optional("instanceId", out.instance_id);
  r.Optional("serverId", out.server_id);
  r.RequiredObjectJson("payload", out.payload_json);
  r.Required("timeoutSeconds", out.timeout_seconds);
  r.Optional("cancellable", out.cancellable);
  r.Required("leaseSeconds", out.lease_seconds);
  r.Required("createdAt", out.created_at);
  return r.Finish();
}

json::value Encode(const JobExecution& value) {
  json::object o;
  o.reserve(11);
  o.emplace("jobId", Str(value.job_id));
  o.emplace("runId", Str(value.run_id));
  o.emplace("attempt", value.attempt);
  o.emplace("type", Str(value.type));
  o.emplace("instanceId", Nullable(value.instance_id));
  o.emplace("serverId", Nullable(value.server_id));
  o.emplace("payload", EmbeddedObject(value.payload_json));
  o.emplace("timeoutSeconds", value.timeout_seconds);
  o.emplace("cancellable", value.cancellable);
  o.emplace("leaseSeconds", value.lease_seconds);
  o.emplace("createdAt", Time(value.created_at));
  return o;
}

// ---- runs/{runId}/updates ----

bool Read(Decoder& d, const std::string& path, const json::value& v, ProgressUpdate& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("seq", out.seq)) CheckRange(d, r.Path("seq"), out.seq, 0, kMaxInt64);
  // Final states travel in "final"; an update only ever reports a running run.
  if (r.Required("status", out.status) && out.status != RunStatus::kRunning) {
    d.Problem(r.Path("status"), "must be RUNNING (final states go in \"final\")");
  }
  if (r.Optional("percent", out.percent)) CheckRange(d, r.Path("percent"), *out.percent, 0, 100);
  r.Optional("message", out.message);
  r.Optional("step", out.step);
  r.Required("timestamp", out.timestamp);
  return r.Finish();
}

json::value Encode(const ProgressUpdate& value) {
  json::object o;
  o.emplace("seq", value.seq);
  o.emplace("status", Str(ToString(value.status)));
  if (value.percent) o.emplace("percent", *value.percent);
  if (value.message) o.emplace("message", Str(*value.message));
  if (value.step) o.emplace("step", Str(*value.step));
  o.emplace("timestamp", Time(value.timestamp));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, LogLine& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("seq", out.seq)) CheckRange(d, r.Path("seq"), out.seq, 0, kMaxInt64);
  r.Required("timestamp", out.timestamp);
  if (r.Required("level", out.level)) CheckLogLevel(d, r.Path("level"), out.level);
  r.Required("message", out.message);
  return r.Finish();
}

json::value Encode(const LogLine& value) {
  return json::object{{"seq", value.seq},
                      {"timestamp", Time(value.timestamp)},
                      {"level", Str(value.level)},
                      {"message", Str(value.message)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, FinalUpdate& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("seq", out.seq)) CheckRange(d, r.Path("seq"), out.seq, 0, kMaxInt64);
  const bool has_status = r.Required("status", out.status);
  if (has_status && out.status == RunStatus::kRunning) {
    d.Problem(r.Path("status"), "must be one of COMPLETED, FAILED, CANCELLED");
  }
  r.OptionalObjectJson("result", out.result_json);
  const bool has_error_key = r.Find("error") != nullptr;
  r.Optional("error", out.error);
  if (has_status && out.status == RunStatus::kFailed && !has_error_key) {
    d.Problem(r.Path("error"), "is required when status is FAILED");
  }
  r.Required("timestamp", out.timestamp);
  return r.Finish();
}

json::value Encode(const FinalUpdate& value) {
  json::object o;
  o.emplace("seq", value.seq);
  o.emplace("status", Str(ToString(value.status)));
  if (value.result_json) o.emplace("result", NullableEmbeddedObject(value.result_json));
  if (value.error) o.emplace("error", Encode(*value.error));
  o.emplace("timestamp", Time(value.timestamp));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, UpdatesRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Optional("updates", out.updates);
  r.Optional("logs", out.logs);
  r.Optional("final", out.final_update);
  return r.Finish();
}

json::value Encode(const UpdatesRequest& value) {
  json::object o;
  o.emplace("updates", EncodeArray(value.updates));
  o.emplace("logs", EncodeArray(value.logs));
  if (value.final_update) o.emplace("final", Encode(*value.final_update));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, UpdatesResponse& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("ackedUpdateSeq", out.acked_update_seq);
  r.Required("ackedLogSeq", out.acked_log_seq);
  r.Required("cancelRequested", out.cancel_requested);
  return r.Finish();
}

json::value Encode(const UpdatesResponse& value) {
  return json::object{{"ackedUpdateSeq", value.acked_update_seq},
                      {"ackedLogSeq", value.acked_log_seq},
                      {"cancelRequested", value.cancel_requested}};
}

// ---- status (docs/protocol.md) ----

bool Read(Decoder& d, const std::string& path, const json::value& v, AgentProblem& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("code", out.code)) CheckNotEmpty(d, r.Path("code"), out.code);
  r.Required("message", out.message);
  return r.Finish();
}

json::value Encode(const AgentProblem& value) {
  return json::object{{"code", Str(value.code)}, {"message", Str(value.message)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, AgentStatusReport& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("healthy", out.healthy);
  r.Optional("problems", out.problems);
  if (out.problems.size() > kMaxProblems) {
    d.Problem(r.Path("problems"), "must have at most " + std::to_string(kMaxProblems) + " items");
  }
  r.Required("reportedAt", out.reported_at);
  return r.Finish();
}

json::value Encode(const AgentStatusReport& value) {
  return json::object{{"healthy", value.healthy},
                      {"problems", EncodeArray(value.problems)},
                      {"reportedAt", Time(value.reported_at)}};
}

}  // namespace orb::protocol::codec_detail
