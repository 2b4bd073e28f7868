// Codecs of schedules (protocol/schedules.hpp, docs/protocol.md "Schedules").

#include <utility>

#include "protocol/codec.hpp"
#include "protocol/codec_detail.hpp"
#include "protocol/payloads/payloads.hpp"
#include "protocol/schedules.hpp"

namespace orb::protocol {
namespace codec_detail {

bool Read(Decoder& d, const std::string& path, const json::value& v, ScheduleTarget& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  const bool has_selector = r.Find("selector") != nullptr;
  const bool has_agents = r.Find("agentIds") != nullptr;
  if (has_selector) {
    const std::string selector_path = r.Path("selector");
    if (const json::object* selector = AsObject(d, selector_path, *r.Find("selector"))) {
      ObjectReader s(d, selector_path, *selector);
      Labels labels;
      if (s.Required("labels", labels)) {
        if (labels.empty()) {
          d.Problem(s.Path("labels"), "must name at least one label");
        } else {
          out.selector_labels = std::move(labels);
        }
      }
      s.Finish();
    }
  }
  if (has_agents) {
    std::vector<std::string> ids;
    if (r.Optional("agentIds", ids)) {
      if (ids.empty()) d.Problem(r.Path("agentIds"), "must name at least one agent");
      if (ids.size() > kMaxTargetAgentIds) {
        d.Problem(r.Path("agentIds"),
                  "must name at most " + std::to_string(kMaxTargetAgentIds) + " agents");
      }
      for (std::size_t i = 0; i < ids.size(); ++i)
        CheckName(d, ElementPath(r.Path("agentIds"), i), ids[i]);
      out.agent_ids = std::move(ids);
    }
  }
  if (has_selector && has_agents) {
    d.Problem(r.Path("agentIds"), "must not be given together with selector");
  } else if (!has_selector && !has_agents) {
    d.Problem(r.Path("selector"), "is required (or agentIds)");
  }
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ScheduleFire& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("fireTime", out.fire_time);
  r.Required("jobCount", out.job_count);
  r.Required("jobIds", out.job_ids);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, Schedule& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("id", out.id);
  r.Required("name", out.name);
  r.Required("cron", out.cron);
  r.Required("timeZone", out.time_zone);
  r.Required("target", out.target);
  r.Required("steps", out.steps);
  r.Required("overlap", out.overlap);
  r.Required("catchUp", out.catch_up);
  r.Required("enabled", out.enabled);
  r.Required("createdAt", out.created_at);
  r.Required("updatedAt", out.updated_at);
  r.Optional("nextFires", out.next_fires);
  r.Optional("lastFires", out.last_fires);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ScheduleRequest& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Optional("name", out.name)) {
    const std::string name_path = r.Path("name");
    if (CheckNotEmpty(d, name_path, *out.name) && out.name->size() > kMaxScheduleName) {
      d.Problem(name_path, "must be at most " + std::to_string(kMaxScheduleName) + " bytes");
    }
  }
  r.Optional("cron", out.cron);
  r.Optional("timeZone", out.time_zone);
  r.Optional("target", out.target);
  r.Optional("steps", out.steps);
  r.Optional("overlap", out.overlap);
  r.Optional("catchUp", out.catch_up);
  r.Optional("enabled", out.enabled);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ScheduleList& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("schedules", out.schedules);
  r.Optional("nextCursor", out.next_cursor);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, ScheduleFired& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("scheduleId", out.schedule_id);
  r.Required("fireTime", out.fire_time);
  r.Required("jobs", out.jobs);
  return r.Finish();
}

namespace {

json::array ScheduleStrings(const std::vector<std::string>& items) {
  json::array array;
  for (const auto& item : items)
    array.push_back(Str(item));
  return array;
}

json::value EncodeSteps(const std::vector<JobTemplate>& steps) {
  json::array array;
  for (const auto& step : steps)
    array.push_back(Encode(step));
  return array;
}

json::value EncodeTarget(const ScheduleTarget& target) {
  json::object o;
  if (target.selector_labels) {
    o.emplace("selector", json::object{{"labels", Encode(*target.selector_labels)}});
  }
  if (target.agent_ids) o.emplace("agentIds", ScheduleStrings(*target.agent_ids));
  return o;
}

json::value EncodeSchedule(const Schedule& s) {
  json::object o;
  o.emplace("id", Str(s.id));
  o.emplace("name", Str(s.name));
  o.emplace("cron", Str(s.cron));
  o.emplace("timeZone", Str(s.time_zone));
  o.emplace("target", EncodeTarget(s.target));
  o.emplace("steps", EncodeSteps(s.steps));
  o.emplace("overlap", Str(s.overlap));
  o.emplace("catchUp", Str(s.catch_up));
  o.emplace("enabled", s.enabled);
  o.emplace("createdAt", Time(s.created_at));
  o.emplace("updatedAt", Time(s.updated_at));
  json::array next;
  for (const WallTime& time : s.next_fires)
    next.push_back(Time(time));
  o.emplace("nextFires", std::move(next));
  json::array last;
  for (const ScheduleFire& fire : s.last_fires) {
    last.push_back(json::object{{"fireTime", Time(fire.fire_time)},
                                {"jobCount", fire.job_count},
                                {"jobIds", ScheduleStrings(fire.job_ids)}});
  }
  o.emplace("lastFires", std::move(last));
  return o;
}

// Decodes `text` as T (strict for requests).
template <class T>
Expected<T> Decode(std::string_view text, bool strict) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object() && !parsed->is_array()) {
      return Fail(Errc::kInvalidRequest, "expected a JSON object");
    }
    Decoder decoder(strict);
    T value{};
    Read(decoder, "", *parsed, value);
    if (decoder.problem_count() > 0) return Fail(decoder.ToError());
    return value;
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("JSON decoding failed: ") + e.what());
  }
}

}  // namespace
}  // namespace codec_detail

using namespace codec_detail;

Expected<ScheduleRequest> ParseScheduleRequest(std::string_view text, bool create) {
  auto request = Decode<ScheduleRequest>(text, true);
  if (!request || !create) return request;
  std::vector<FieldProblem> missing;
  if (!request->name) missing.push_back({"name", "is required"});
  if (!request->cron) missing.push_back({"cron", "is required"});
  if (!request->target) missing.push_back({"target", "is required"});
  if (!request->steps) missing.push_back({"steps", "is required"});
  if (!missing.empty()) return Fail(ProblemsError(Errc::kInvalidRequest, missing));
  return request;
}

std::string ToJson(const ScheduleRequest& request) {
  json::object o;
  if (request.name) o.emplace("name", Str(*request.name));
  if (request.cron) o.emplace("cron", Str(*request.cron));
  if (request.time_zone) o.emplace("timeZone", Str(*request.time_zone));
  if (request.target) o.emplace("target", EncodeTarget(*request.target));
  if (request.steps) o.emplace("steps", EncodeSteps(*request.steps));
  if (request.overlap) o.emplace("overlap", Str(*request.overlap));
  if (request.catch_up) o.emplace("catchUp", Str(*request.catch_up));
  if (request.enabled) o.emplace("enabled", *request.enabled);
  return json::serialize(o);
}

std::string ToJson(const Schedule& schedule) {
  return json::serialize(EncodeSchedule(schedule));
}

std::string ToJson(const ScheduleList& list) {
  json::array schedules;
  for (const Schedule& schedule : list.schedules)
    schedules.push_back(EncodeSchedule(schedule));
  return json::serialize(json::object{{"schedules", std::move(schedules)},
                                      {"nextCursor", Nullable(list.next_cursor)}});
}

std::string ToJson(const ScheduleFired& fired) {
  return json::serialize(json::object{{"scheduleId", Str(fired.schedule_id)},
                                      {"fireTime", Time(fired.fire_time)},
                                      {"jobs", EncodeArray(fired.jobs)}});
}

Expected<Schedule> ParseSchedule(std::string_view text) {
  return Decode<Schedule>(text, false);
}
Expected<ScheduleList> ParseScheduleList(std::string_view text) {
  return Decode<ScheduleList>(text, false);
}
Expected<ScheduleFired> ParseScheduleFired(std::string_view text) {
  return Decode<ScheduleFired>(text, false);
}

std::string TargetJson(const ScheduleTarget& target) {
  return json::serialize(EncodeTarget(target));
}

std::string StepsJson(const std::vector<JobTemplate>& steps) {
  return json::serialize(json::object{{"steps", EncodeSteps(steps)}});
}

Expected<ScheduleTarget> ParseTargetJson(std::string_view text) {
  return Decode<ScheduleTarget>(text, false);
}

namespace codec_detail {
namespace {
struct StoredSteps {
  std::vector<JobTemplate> steps;
};
bool Read(Decoder& d, const std::string& path, const json::value& v, StoredSteps& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("steps", out.steps);
  return r.Finish();
}
}  // namespace
}  // namespace codec_detail

Expected<std::vector<JobTemplate>> ParseStepsJson(std::string_view text) {
  auto stored = Decode<StoredSteps>(text, false);
  if (!stored) return Fail(std::move(stored.error()));
  return std::move(stored->steps);
}

namespace codec_detail {
namespace {
struct EventExtra {
  std::optional<std::string> schedule_id;
  std::optional<WallTime> fire_time;
  std::optional<std::vector<std::string>> job_ids;
};
bool Read(Decoder& d, const std::string& path, const json::value& v, EventExtra& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Optional("scheduleId", out.schedule_id);
  r.Optional("fireTime", out.fire_time);
  r.Optional("jobIds", out.job_ids);
  return r.Finish();
}
}  // namespace
}  // namespace codec_detail

std::optional<std::string> EventExtraJson(const Event& event) {
  if (!event.schedule_id && !event.fire_time && !event.job_ids) return std::nullopt;
  json::object o;
  if (event.schedule_id) o.emplace("scheduleId", Str(*event.schedule_id));
  if (event.fire_time) o.emplace("fireTime", Time(*event.fire_time));
  if (event.job_ids) o.emplace("jobIds", ScheduleStrings(*event.job_ids));
  return json::serialize(o);
}

void ApplyEventExtra(std::string_view text, Event& event) {
  auto extra = Decode<EventExtra>(text, false);
  if (!extra) return;
  event.schedule_id = std::move(extra->schedule_id);
  event.fire_time = extra->fire_time;
  event.job_ids = std::move(extra->job_ids);
}

}  // namespace orb::protocol
