// Codecs of schedules (protocol/schedules.hpp, docs/protocol.md "Schedules").

#include <utility>

#include "protocol/codec.hpp"
#include "protocol/codec_detail.hpp"
#include "protocol/payloads/payloads.hpp"
#include "protocol/schedules.hpp"

namespace orb::protocol {
namespace codec_detail {

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

json::value EncodeSchedule(const Schedule& s) {
  json::object o;
  o.emplace("id", Str(s.id));
  o.emplace("name", Str(s.name));
  o.emplace("cron", Str(s.cron));
  o.emplace("timeZone", Str(s.time_zone));
  o.emplace("target", Encode(s.target));
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

}  // namespace
}  // namespace codec_detail

using namespace codec_detail;

Expected<ScheduleRequest> ParseScheduleRequest(std::string_view text, bool create) {
  auto request = DecodeText<ScheduleRequest>(text, true);
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
  if (request.target) o.emplace("target", Encode(*request.target));
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
  return DecodeText<Schedule>(text, false);
}
Expected<ScheduleList> ParseScheduleList(std::string_view text) {
  return DecodeText<ScheduleList>(text, false);
}
Expected<ScheduleFired> ParseScheduleFired(std::string_view text) {
  return DecodeText<ScheduleFired>(text, false);
}

std::string StepsJson(const std::vector<JobTemplate>& steps) {
  return json::serialize(json::object{{"steps", EncodeSteps(steps)}});
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
  auto stored = DecodeText<StoredSteps>(text, false);
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
  auto extra = DecodeText<EventExtra>(text, false);
  if (!extra) return;
  event.schedule_id = std::move(extra->schedule_id);
  event.fire_time = extra->fire_time;
  event.job_ids = std::move(extra->job_ids);
}

}  // namespace orb::protocol
