// The rollout codecs (protocol/rollout_codec.hpp), on the building blocks of codec_detail.hpp.

#include <cmath>
#include <exception>
#include <utility>

#include "protocol/codec_detail.hpp"
#include "protocol/rollout_codec.hpp"

namespace orb::protocol {
namespace codec_detail {
namespace {

bool ReadRolloutNumber(Decoder& d, const std::string& path, const json::value& v, double& out) {
  if (const auto* i = v.if_int64()) {
    out = static_cast<double>(*i);
  } else if (const auto* u = v.if_uint64()) {
    out = static_cast<double>(*u);
  } else if (const auto* f = v.if_double(); f != nullptr && std::isfinite(*f)) {
    out = *f;
  } else {
    d.Problem(path, "must be a number");
    return false;
  }
  return true;
}

}  // namespace

json::value Encode(const RolloutPhaseSpec& value);
json::value Encode(const Rollout& value);
json::value Encode(const RolloutHost& value);

namespace {

// EncodeArray of codec_detail.hpp sees only the Encode overloads declared before it.
template <class T>
json::array EncodeRolloutItems(const std::vector<T>& items) {
  json::array array;
  array.reserve(items.size());
  for (const auto& item : items)
    array.push_back(Encode(item));
  return array;
}

}  // namespace

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutCounts& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("total", out.total);
  r.Required("pending", out.pending);
  r.Required("waiting", out.waiting);
  r.Required("queued", out.queued);
  r.Required("running", out.running);
  r.Required("completed", out.completed);
  r.Required("failed", out.failed);
  r.Required("cancelled", out.cancelled);
  r.Required("skipped", out.skipped);
  return r.Finish();
}

json::value Encode(const RolloutCounts& value) {
  return json::object{
      {"total", value.total},   {"pending", value.pending},     {"waiting", value.waiting},
      {"queued", value.queued}, {"running", value.running},     {"completed", value.completed},
      {"failed", value.failed}, {"cancelled", value.cancelled}, {"skipped", value.skipped}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutPhaseSpec& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("percent", out.percent);
  r.Optional("startAt", out.start_at);
  return r.Finish();
}

json::value Encode(const RolloutPhaseSpec& value) {
  json::object o{{"percent", value.percent}};
  if (value.start_at) o.emplace("startAt", Time(*value.start_at));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutAbortSpec& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (const json::value* percent = r.Find("failedPercent")) {
    ReadRolloutNumber(d, r.Path("failedPercent"), *percent, out.failed_percent);
  } else {
    d.Problem(r.Path("failedPercent"), "is required");
  }
  r.Optional("minFinished", out.min_finished);
  return r.Finish();
}

json::value Encode(const RolloutAbortSpec& value) {
  json::object o;
  if (value.failed_percent == std::floor(value.failed_percent)) {
    o.emplace("failedPercent", static_cast<std::int64_t>(value.failed_percent));
  } else {
    o.emplace("failedPercent", value.failed_percent);
  }
  o.emplace("minFinished", value.min_finished);
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutPolicySpec& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (const json::value* max = r.Find("maxInFlight")) {
    const std::string max_path = r.Path("maxInFlight");
    if (const json::string* text = max->if_string()) {
      // "25%": digits then one '%'.
      const std::string_view s(text->data(), text->size());
      std::int64_t number = 0;
      bool ok = s.size() >= 2 && s.size() <= 5 && s.back() == '%';
      for (std::size_t i = 0; ok && i + 1 < s.size(); ++i) {
        ok = s[i] >= '0' && s[i] <= '9';
        number = number * 10 + (s[i] - '0');
      }
      if (ok) {
        out.max_in_flight = number;
        out.max_in_flight_percent = true;
      } else {
        d.Problem(max_path, "must be an integer >= 1 or a percentage such as \"25%\"");
      }
    } else {
      Read(d, max_path, *max, out.max_in_flight);
      out.max_in_flight_percent = false;
    }
  }
  r.Optional("phases", out.phases);
  r.Optional("abort", out.abort);
  r.Optional("hostTimeoutSeconds", out.host_timeout_seconds);
  r.Optional("maxPerMinute", out.max_per_minute);
  return r.Finish();
}

json::value Encode(const RolloutPolicySpec& value) {
  json::object o;
  if (value.max_in_flight_percent) {
    o.emplace("maxInFlight", Str(std::to_string(value.max_in_flight) + "%"));
  } else {
    o.emplace("maxInFlight", value.max_in_flight);
  }
  o.emplace("phases", EncodeRolloutItems(value.phases));
  o.emplace("abort", value.abort ? Encode(*value.abort) : json::value(nullptr));
  o.emplace("hostTimeoutSeconds", value.host_timeout_seconds
                                      ? json::value(*value.host_timeout_seconds)
                                      : json::value(nullptr));
  // Only when set: a policy without it reads the same on a replica of the previous version,
  // whose decoder refuses fields it does not know (docs/decisions/0021).
  if (value.max_per_minute) o.emplace("maxPerMinute", *value.max_per_minute);
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, CreateRolloutRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("name", out.name)) {
    if (out.name.empty() || out.name.size() > kMaxRolloutName) {
      d.Problem(r.Path("name"), "must be 1 to 200 characters");
    }
  }
  r.Required("target", out.target);
  r.Required("job", out.job);
  r.Optional("policy", out.policy);
  if (r.Optional("order", out.order) && out.order != "agents" && out.order != "random") {
    d.Problem(r.Path("order"), "must be \"agents\" or \"random\"");
  }
  r.Optional("idempotencyKey", out.idempotency_key);
  return r.Finish();
}

json::value Encode(const CreateRolloutRequest& value) {
  json::object o{{"name", Str(value.name)},
                 {"target", Encode(value.target)},
                 {"job", Encode(value.job)},
                 {"policy", Encode(value.policy)},
                 {"order", Str(value.order)}};
  if (value.idempotency_key) o.emplace("idempotencyKey", Str(*value.idempotency_key));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, Rollout& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("id", out.id);
  r.Required("name", out.name);
  r.Required("status", out.status);
  r.Required("createdAt", out.created_at);
  r.Required("updatedAt", out.updated_at);
  r.Required("target", out.target);
  r.Required("job", out.job);
  r.Required("policy", out.policy);
  r.Optional("order", out.order);
  r.Optional("phase", out.phase);
  r.Required("counts", out.counts);
  r.Optional("cancelRunning", out.cancel_running);
  r.Optional("abortReason", out.abort_reason);
  return r.Finish();
}

json::value Encode(const Rollout& value) {
  json::object o{{"id", Str(value.id)},
                 {"name", Str(value.name)},
                 {"status", Str(value.status)},
                 {"createdAt", Time(value.created_at)},
                 {"updatedAt", Time(value.updated_at)},
                 {"target", Encode(value.target)},
                 {"job", Encode(value.job)},
                 {"policy", Encode(value.policy)},
                 {"order", Str(value.order)},
                 {"phase", value.phase},
                 {"counts", Encode(value.counts)},
                 {"cancelRunning", value.cancel_running}};
  if (value.abort_reason) o.emplace("abortReason", Str(*value.abort_reason));
  return o;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("rollouts", out.rollouts);
  r.Optional("nextCursor", out.next_cursor);
  return r.Finish();
}

json::value Encode(const RolloutList& value) {
  return json::object{{"rollouts", EncodeRolloutItems(value.rollouts)},
                      {"nextCursor", Nullable(value.next_cursor)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutHost& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("agentId", out.agent_id);
  r.Optional("jobId", out.job_id);
  r.Required("status", out.status);
  return r.Finish();
}

json::value Encode(const RolloutHost& value) {
  return json::object{{"agentId", Str(value.agent_id)},
                      {"jobId", Nullable(value.job_id)},
                      {"status", Str(value.status)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutHostList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("hosts", out.hosts);
  r.Optional("nextCursor", out.next_cursor);
  return r.Finish();
}

json::value Encode(const RolloutHostList& value) {
  return json::object{{"hosts", EncodeRolloutItems(value.hosts)},
                      {"nextCursor", Nullable(value.next_cursor)}};
}

bool Read(Decoder& d, const std::string& path, const json::value& v, AbortRolloutRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Optional("cancelRunning", out.cancel_running);
  return r.Finish();
}

}  // namespace codec_detail

namespace {

template <class T>
std::string SerializeRollout(const T& value) {
  return boost::json::serialize(codec_detail::Encode(value));
}

// `strict`: a request (unknown fields rejected).
template <class T>
Expected<T> ParseRolloutMessage(std::string_view text, bool strict) {
  return codec_detail::DecodeText<T>(text, strict);
}

}  // namespace

std::string ToJson(const CreateRolloutRequest& value) {
  return SerializeRollout(value);
}
std::string ToJson(const Rollout& value) {
  return SerializeRollout(value);
}
std::string ToJson(const RolloutList& value) {
  return SerializeRollout(value);
}
std::string ToJson(const RolloutHostList& value) {
  return SerializeRollout(value);
}
std::string ToJson(const JobTemplate& value) {
  return SerializeRollout(value);
}
std::string ToJson(const RolloutPolicySpec& value) {
  return SerializeRollout(value);
}
std::string ToJson(const RolloutCounts& value) {
  return SerializeRollout(value);
}

Expected<CreateRolloutRequest> ParseCreateRolloutRequest(std::string_view text) {
  return ParseRolloutMessage<CreateRolloutRequest>(text, true);
}
Expected<AbortRolloutRequest> ParseAbortRolloutRequest(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return AbortRolloutRequest{};
  return ParseRolloutMessage<AbortRolloutRequest>(text, true);
}
Expected<Rollout> ParseRollout(std::string_view text) {
  return ParseRolloutMessage<Rollout>(text, false);
}
Expected<RolloutList> ParseRolloutList(std::string_view text) {
  return ParseRolloutMessage<RolloutList>(text, false);
}
Expected<RolloutHostList> ParseRolloutHostList(std::string_view text) {
  return ParseRolloutMessage<RolloutHostList>(text, false);
}
Expected<JobTemplate> ParseRolloutJob(std::string_view text) {
  return ParseRolloutMessage<JobTemplate>(text, false);
}
Expected<RolloutPolicySpec> ParseRolloutPolicy(std::string_view text) {
  return ParseRolloutMessage<RolloutPolicySpec>(text, false);
}
Expected<RolloutCounts> ParseRolloutCounts(std::string_view text) {
  return ParseRolloutMessage<RolloutCounts>(text, false);
}

}  // namespace orb::protocol
