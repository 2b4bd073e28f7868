// JSON codec of GET /v1/stats/history (protocol/stats_history.hpp).

#include <exception>
#include <string>

#include <boost/json.hpp>

#include "protocol/codec_detail.hpp"
#include "protocol/stats_history.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;
using codec_detail::Decoder;
using codec_detail::ObjectReader;

json::value NullableMs(const std::optional<std::int64_t>& ms) {
  if (!ms) return nullptr;
  return *ms;
}

bool ReadMinute(Decoder& d, const std::string& path, const json::value& v, HistoryMinute& out) {
  const json::object* object = codec_detail::AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("minute", out.minute);
  r.Optional("completed", out.completed);
  r.Optional("failed", out.failed);
  r.Optional("cancelled", out.cancelled);
  r.Optional("queueToStartP50Ms", out.queue_to_start_p50_ms);
  r.Optional("queueToStartP95Ms", out.queue_to_start_p95_ms);
  r.Optional("runP50Ms", out.run_p50_ms);
  r.Optional("runP95Ms", out.run_p95_ms);
  return r.Finish();
}

}  // namespace

std::string ToJson(const StatsHistory& value) {
  json::array buckets;
  buckets.reserve(value.buckets.size());
  for (const HistoryMinute& minute : value.buckets) {
    buckets.push_back(json::object{
        {"minute", codec_detail::Time(minute.minute)},
        {"completed", minute.completed},
        {"failed", minute.failed},
        {"cancelled", minute.cancelled},
        {"queueToStartP50Ms", NullableMs(minute.queue_to_start_p50_ms)},
        {"queueToStartP95Ms", NullableMs(minute.queue_to_start_p95_ms)},
        {"runP50Ms", NullableMs(minute.run_p50_ms)},
        {"runP95Ms", NullableMs(minute.run_p95_ms)},
    });
  }
  return json::serialize(json::object{{"from", codec_detail::Time(value.from)},
                                      {"minutes", value.minutes},
                                      {"truncated", value.truncated},
                                      {"buckets", std::move(buckets)}});
}

Expected<StatsHistory> ParseStatsHistory(std::string_view text) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object()) return Fail(Errc::kInvalidRequest, "expected a JSON object");
    Decoder d(false);
    StatsHistory out;
    ObjectReader r(d, "", parsed->as_object());
    r.Required("from", out.from);
    r.Required("minutes", out.minutes);
    r.Optional("truncated", out.truncated);
    if (const json::value* buckets = r.Find("buckets"); buckets != nullptr) {
      if (!buckets->is_array()) {
        d.Problem("buckets", "must be an array");
      } else {
        for (std::size_t i = 0; i < buckets->as_array().size(); ++i) {
          HistoryMinute minute;
          if (ReadMinute(d, codec_detail::ElementPath("buckets", i), buckets->as_array()[i],
                         minute)) {
            out.buckets.push_back(minute);
          }
        }
      }
    }
    r.Finish();
    if (d.problem_count() > 0) return Fail(d.ToError());
    return out;
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("decoding JSON: ") + e.what());
  }
}

}  // namespace orb::protocol
