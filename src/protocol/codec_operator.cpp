// Codecs of the rest of the operator API (protocol.md §5: logs, agents, tokens, artifacts) and of
// the event stream (§6).

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/codec_detail.hpp"

namespace orb::protocol::codec_detail {

// ---- logs ----

bool Read(Decoder& d, const std::string& path, const json::value& v, JobLogLine& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("runId", out.run_id);
  r.Required("seq", out.seq);
  r.Required("timestamp", out.timestamp);
  r.Required("level", out.level);
  r.Required("message", out.message);
  return r.Finish();
}

json::value Encode(const JobLogLine& value) {
  return json::object{{"runId", Str(value.run_id)},
                      {"seq", value.seq},
                      {"timestamp", Time(value.timestamp)},
                      {"level", Str(value.level)},
                      {"message", Str(value.message)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, JobLogs& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("lines", out.lines);
  if (r.Optional("logsDropped", out.logs_dropped)) {
    CheckRange(d, r.Path("logsDropped"), out.logs_dropped, std::int64_t{0}, kMaxInt64);
  }
  r.Optional("logCap", out.log_cap);
  return r.Finish();
}

json::value Encode(const JobLogs& value) {
  json::object o{{"lines", EncodeArray(value.lines)}};
  if (value.logs_dropped > 0) o.emplace("logsDropped", value.logs_dropped);
  if (value.log_cap) o.emplace("logCap", Encode(*value.log_cap));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, LogCap& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("maxLines", out.max_lines);
  r.Required("maxBytes", out.max_bytes);
  CheckRange(d, r.Path("maxLines"), out.max_lines, std::int64_t{0}, kMaxInt64);
  CheckRange(d, r.Path("maxBytes"), out.max_bytes, std::int64_t{0}, kMaxInt64);
  return r.Finish();
}

json::value Encode(const LogCap& value) {
  return json::object{{"maxLines", value.max_lines}, {"maxBytes", value.max_bytes}};
}

// ---- agents ----

bool Read(Decoder& d, const std::string& path, const json::value& v, AgentInfo& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("agentId", out.agent_id);
  r.Required("online", out.online);
  r.Optional("lastSeenAt", out.last_seen_at);
  r.Optional("agentVersion", out.agent_version);
  r.Optional("labels", out.labels);
  r.Optional("jobTypes", out.job_types);
  r.Optional("maxParallel", out.max_parallel);
  r.Optional("runningRuns", out.running_runs);
  r.Optional("revoked", out.revoked);
  r.Optional("health", out.health);
  r.Optional("inventory", out.inventory);
  r.Optional("lastJobStatus", out.last_job_status);
  return r.Finish();
}

json::value Encode(const AgentInfo& value) {
  json::object o;
  o.reserve(12);
  o.emplace("agentId", Str(value.agent_id));
  o.emplace("online", value.online);
  o.emplace("lastSeenAt", NullableTime(value.last_seen_at));
  o.emplace("agentVersion", Nullable(value.agent_version));
  o.emplace("labels", Encode(value.labels));
  o.emplace("jobTypes", EncodeArray(value.job_types));
  o.emplace("maxParallel", value.max_parallel);
  o.emplace("runningRuns", EncodeArray(value.running_runs));
  o.emplace("revoked", value.revoked);
  o.emplace("health", value.health ? Encode(*value.health) : json::value(nullptr));
  o.emplace("inventory", value.inventory ? Encode(*value.inventory) : json::value(nullptr));
  o.emplace("lastJobStatus", value.last_job_status
                                 ? json::value(Str(ToString(*value.last_job_status)))
                                 : json::value(nullptr));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, AgentList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("agents", out.agents);
  return r.Finish();
}

json::value Encode(const AgentList& value) {
  return json::object{{"agents", EncodeArray(value.agents)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, EnrollRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("agentId", out.agent_id)) CheckName(d, r.Path("agentId"), out.agent_id);
  r.Optional("labels", out.labels);
  return r.Finish();
}

json::value Encode(const EnrollRequest& value) {
  json::object o;
  o.emplace("agentId", Str(value.agent_id));
  if (!value.labels.empty()) o.emplace("labels", Encode(value.labels));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, EnrollResponse& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("agentId", out.agent_id);
  r.Required("token", out.token);
  return r.Finish();
}

json::value Encode(const EnrollResponse& value) {
  return json::object{{"agentId", Str(value.agent_id)}, {"token", Str(value.token)}};
}

// ---- tokens, artifacts ----

bool Read(Decoder& d, const std::string& path, const json::value& v, TokenCreateRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  // Agent tokens come only from enrollment (POST /v1/agents).
  std::string role;
  if (r.Required("role", role)) {
    const std::optional<Role> parsed = RoleFromString(role);
    if (parsed && *parsed != Role::kAgent) {
      out.role = *parsed;
    } else {
      d.Problem(r.Path("role"), "must be one of viewer, operator, admin");
    }
  }
  if (r.Required("name", out.name)) CheckNotEmpty(d, r.Path("name"), out.name);
  return r.Finish();
}

json::value Encode(const TokenCreateRequest& value) {
  return json::object{{"role", Str(ToString(value.role))}, {"name", Str(value.name)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, TokenCreated& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("id", out.id);
  r.Required("token", out.token);
  return r.Finish();
}

json::value Encode(const TokenCreated& value) {
  return json::object{{"id", Str(value.id)}, {"token", Str(value.token)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, Whoami& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("tokenId", out.token_id);
  r.Required("role", out.role);
  return r.Finish();
}

json::value Encode(const Whoami& value) {
  return json::object{{"tokenId", Str(value.token_id)}, {"role", Str(ToString(value.role))}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ArtifactInfo& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("sha256", out.sha256);
  r.Required("size", out.size);
  r.Required("url", out.url);
  return r.Finish();
}

json::value Encode(const ArtifactInfo& value) {
  return json::object{{"sha256", Str(value.sha256)}, {"size", value.size}, {"url", Str(value.url)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, StoredArtifact& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("sha256", out.sha256);
  r.Required("size", out.size);
  r.Required("createdAt", out.created_at);
  r.Required("url", out.url);
  r.Required("unfinishedJobs", out.unfinished_jobs);
  return r.Finish();
}

json::value Encode(const StoredArtifact& value) {
  return json::object{{"sha256", Str(value.sha256)},
                      {"size", value.size},
                      {"createdAt", Time(value.created_at)},
                      {"url", Str(value.url)},
                      {"unfinishedJobs", value.unfinished_jobs}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ArtifactList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("artifacts", out.artifacts);
  return r.Finish();
}

json::value Encode(const ArtifactList& value) {
  return json::object{{"artifacts", EncodeArray(value.artifacts)}};
}

// ---- events ----

bool Read(Decoder& d, const std::string& path, const json::value& v, Event& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("seq", out.seq);
  r.Required("type", out.type);
  r.Required("timestamp", out.timestamp);
  r.Optional("jobId", out.job_id);
  r.Optional("runId", out.run_id);
  r.Optional("agentId", out.agent_id);
  r.Optional("instanceId", out.instance_id);
  r.Optional("jobType", out.job_type);
  r.Optional("status", out.status);
  if (r.Optional("percent", out.percent)) CheckRange(d, r.Path("percent"), *out.percent, 0, 100);
  r.Optional("message", out.message);
  r.Optional("attempt", out.attempt);
  r.Optional("error", out.error);
  r.Optional("rolloutId", out.rollout_id);
  r.Optional("counts", out.counts);
  r.Optional("scheduleId", out.schedule_id);
  r.Optional("fireTime", out.fire_time);
  r.Optional("jobIds", out.job_ids);
  return r.Finish();
}

json::value Encode(const Event& value) {
  json::object o;
  o.reserve(13);
  o.emplace("seq", value.seq);
  o.emplace("type", Str(ToString(value.type)));
  o.emplace("timestamp", Time(value.timestamp));
  o.emplace("jobId", Nullable(value.job_id));
  o.emplace("runId", Nullable(value.run_id));
  o.emplace("agentId", Nullable(value.agent_id));
  o.emplace("instanceId", Nullable(value.instance_id));
  o.emplace("jobType", Nullable(value.job_type));
  o.emplace("status", Nullable(value.status));
  o.emplace("percent", NullableInt(value.percent));
  o.emplace("message", Nullable(value.message));
  o.emplace("attempt", NullableInt(value.attempt));
  o.emplace("error", value.error ? Encode(*value.error) : json::value(nullptr));
  // Only on rollout events and the job events of a rollout's jobs (docs/protocol.md "Rollouts").
  if (value.rollout_id) o.emplace("rolloutId", Str(*value.rollout_id));
  if (value.counts) o.emplace("counts", Encode(*value.counts));
  if (value.schedule_id) o.emplace("scheduleId", Str(*value.schedule_id));
  if (value.fire_time) o.emplace("fireTime", Time(*value.fire_time));
  if (value.job_ids) o.emplace("jobIds", EncodeArray(*value.job_ids));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, EventList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("events", out.events);
  return r.Finish();
}

json::value Encode(const EventList& value) {
  return json::object{{"events", EncodeArray(value.events)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, SubscribeMessage& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  std::string type;
  if (r.Required("type", type) && type != "subscribe") {
    d.Problem(r.Path("type"), "must be \"subscribe\"");
  }
  r.Optional("token", out.token);
  if (r.Optional("since", out.since)) CheckRange(d, r.Path("since"), *out.since, 0, kMaxInt64);
  if (const json::value* filter = r.Find("filter")) {
    const std::string filter_path = r.Path("filter");
    if (const json::object* filter_object = AsObject(d, filter_path, *filter)) {
      ObjectReader f(d, filter_path, *filter_object);
      f.Optional("agentId", out.agent_id);
      f.Optional("jobId", out.job_id);
      f.Finish();
    }
  }
  return r.Finish();
}

json::value Encode(const SubscribeMessage& value) {
  json::object o;
  o.emplace("type", "subscribe");
  if (value.token) o.emplace("token", Str(*value.token));
  if (value.since) o.emplace("since", *value.since);
  if (value.agent_id || value.job_id) {
    json::object filter;
    if (value.agent_id) filter.emplace("agentId", Str(*value.agent_id));
    if (value.job_id) filter.emplace("jobId", Str(*value.job_id));
    o.emplace("filter", std::move(filter));
  }
  return o;
}

}  // namespace orb::protocol::codec_detail
