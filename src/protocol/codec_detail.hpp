#pragma once

// Internal to src/protocol: the building blocks of codec.cpp and codec_*.cpp. Other modules use
// protocol/codec.hpp, which keeps Boost.JSON out of their translation units.
//
// Decoding: every Read() checks one JSON value against one C++ type. On a mismatch it records a
// FieldProblem in the Decoder (under the dotted path it was given) and returns false; it never
// throws (except std::bad_alloc) and keeps going, so one pass reports every problem.
// Encoding: every Encode() turns one C++ value into a boost::json::value.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "common/error.hpp"
#include "common/expected.hpp"
#include "common/time.hpp"
#include "protocol/host_target.hpp"
#include "protocol/types.hpp"

namespace orb::protocol::codec_detail {

namespace json = boost::json;

inline constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

// Collects the field problems of one decode. `strict` rejects unknown fields (requests).
class Decoder {
 public:
  explicit Decoder(bool strict) : strict_(strict) {}

  bool strict() const { return strict_; }
  void Problem(std::string field, std::string problem);
  std::size_t problem_count() const { return total_; }
  // kInvalidRequest listing the problems (call only when problem_count() > 0).
  Error ToError() const;

 private:
  bool strict_;
  std::size_t total_ = 0;
  std::vector<FieldProblem> problems_;
};

// "a" + "b" -> "a.b"; "" + "b" -> "b"; "a" + 3 -> "a[3]".
std::string FieldPath(std::string_view parent, std::string_view key);
std::string ElementPath(std::string_view parent, std::size_t index);

// Parses `text` into storage `sp` with the limits of codec.hpp.
// kPayloadTooLarge, kInvalidJson.
Expected<json::value> ParseJson(std::string_view text, json::storage_ptr sp);

// Checks that every number in `value` is finite (a parsed 1e400 is an infinite double, which
// cannot be serialized as JSON); records a problem under its path otherwise.
bool CheckFiniteNumbers(Decoder& decoder, const std::string& path, const json::value& value);

// ---- Readers: false (and a recorded problem) when the value does not fit ----

bool Read(Decoder& d, const std::string& path, const json::value& v, std::string& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, bool& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, int& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, std::int64_t& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, std::uint64_t& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, WallTime& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobStatus& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, RunStatus& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Role& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, EventType& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Labels& out);

bool Read(Decoder& d, const std::string& path, const json::value& v, RunError& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Job& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Run& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobDetail& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, CreateJobRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobTemplate& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, BatchCreated& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobList& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, InterruptedRun& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, HelloRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, HelloResponse& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, NotifyResponse& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, NextRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobExecution& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, ProgressUpdate& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, LogLine& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, FinalUpdate& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, UpdatesRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, UpdatesResponse& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, AgentProblem& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, AgentStatusReport& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobLogLine& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, JobLogs& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, LogCap& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, AgentInfo& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, AgentList& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, EnrollRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, EnrollResponse& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, TokenCreateRequest& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, TokenCreated& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Whoami& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, ArtifactInfo& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, StoredArtifact& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, ArtifactList& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, Event& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, EventList& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, SubscribeMessage& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, RolloutCounts& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, InventorySummary& out);
bool Read(Decoder& d, const std::string& path, const json::value& v, HostTarget& out);

template <class T>
bool Read(Decoder& d, const std::string& path, const json::value& v, std::vector<T>& out) {
  const json::array* array = v.if_array();
  if (array == nullptr) {
    d.Problem(path, "must be an array");
    return false;
  }
  out.clear();
  out.reserve(array->size());
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    T item{};
    if (Read(d, ElementPath(path, i), (*array)[i], item)) {
      out.push_back(std::move(item));
    } else {
      ok = false;
    }
  }
  return ok;
}

// The object at `path`, or nullptr with a recorded "must be an object".
const json::object* AsObject(Decoder& d, const std::string& path, const json::value& v);

// Reads the fields of one object. Remembers which keys were asked for, so Finish() can reject
// the others in strict mode.
class ObjectReader {
 public:
  ObjectReader(Decoder& decoder, std::string path, const json::object& object)
      : decoder_(decoder),
        path_(std::move(path)),
        object_(object),
        problems_before_(decoder.problem_count()) {}

  // Absent or null: "is required".
  template <class T>
  bool Required(std::string_view key, T& out) {
    const json::value* value = Find(key);
    if (value == nullptr) {
      decoder_.Problem(Path(key), "is required");
      return false;
    }
    return Read(decoder_, Path(key), *value, out);
  }

  // Absent or null keeps `out` unchanged. True when present and valid.
  template <class T>
  bool Optional(std::string_view key, T& out) {
    const json::value* value = Find(key);
    if (value == nullptr) return false;
    return Read(decoder_, Path(key), *value, out);
  }

  // Absent or null resets `out`. True when present and valid.
  template <class T>
  bool Optional(std::string_view key, std::optional<T>& out) {
    out.reset();
    const json::value* value = Find(key);
    if (value == nullptr) return false;
    T item{};
    if (!Read(decoder_, Path(key), *value, item)) return false;
    out = std::move(item);
    return true;
  }

  // An embedded JSON object (payload, result) as canonical text.
  bool RequiredObjectJson(std::string_view key, std::string& out);
  bool OptionalObjectJson(std::string_view key, std::string& out);  // absent keeps `out`
  bool OptionalObjectJson(std::string_view key, std::optional<std::string>& out);
  // Any JSON value of finite numbers as canonical text, for a caller that checks its shape later
  // (a create request's payload: its shape is the payload validation's, invalid_payload). Absent
  // or null keeps `out`.
  bool OptionalValueJson(std::string_view key, std::string& out);

  // The value under `key`, nullptr when absent or null; marks `key` as known.
  const json::value* Find(std::string_view key);
  // True when `key` is present (also as null); marks it as known.
  bool Has(std::string_view key);

  std::string Path(std::string_view key) const { return FieldPath(path_, key); }
  Decoder& decoder() { return decoder_; }

  // Reports unknown fields when strict. True when this object added no problem.
  bool Finish();

 private:
  Decoder& decoder_;
  std::string path_;
  const json::object& object_;
  std::size_t problems_before_;
  std::vector<std::string_view> known_;
};

// ---- Value checks used by several messages ----

// Records "must be between lo and hi" when `value` is outside.
bool CheckRange(Decoder& d, const std::string& path, std::int64_t value, std::int64_t lo,
                std::int64_t hi);
// Records the protocol.md §1 name rule when `value` is not a valid name.
bool CheckName(Decoder& d, const std::string& path, const std::string& value);
bool CheckNotEmpty(Decoder& d, const std::string& path, const std::string& value);

// ---- Encoding ----

// True when `text` is valid UTF-8 (RFC 3629).
bool IsValidUtf8(std::string_view text);
// A JSON string holding `text` as valid UTF-8 (invalid sequences become U+FFFD).
json::string Str(std::string_view text);
json::value Nullable(const std::optional<std::string>& text);
json::value Time(WallTime time);
json::value NullableTime(const std::optional<WallTime>& time);
json::value NullableInt(const std::optional<int>& number);
// `text` parsed as a JSON object; {} when it is not one.
json::value EmbeddedObject(std::string_view text);
// `text` parsed as JSON, whatever its type ({} when it does not parse): a request's payload as the
// client gave it (one that is no object is the validation's invalid_payload, not the codec's).
json::value EmbeddedValue(std::string_view text);
// `text` parsed as a JSON object; null when unset or not an object.
json::value NullableEmbeddedObject(const std::optional<std::string>& text);

json::value Encode(const std::string& text);
json::value Encode(const Labels& labels);
json::value Encode(const RunError& value);
json::value Encode(const Job& value);
json::value Encode(const Run& value);
json::value Encode(const JobDetail& value);
json::value Encode(const CreateJobRequest& value);
json::value Encode(const JobTemplate& value);
json::value Encode(const BatchCreated& value);
json::value Encode(const JobList& value);
json::value Encode(const InterruptedRun& value);
json::value Encode(const HelloRequest& value);
json::value Encode(const HelloResponse& value);
json::value Encode(const NotifyResponse& value);
json::value Encode(const NextRequest& value);
json::value Encode(const JobExecution& value);
json::value Encode(const ProgressUpdate& value);
json::value Encode(const LogLine& value);
json::value Encode(const FinalUpdate& value);
json::value Encode(const UpdatesRequest& value);
json::value Encode(const UpdatesResponse& value);
json::value Encode(const AgentProblem& value);
json::value Encode(const AgentStatusReport& value);
json::value Encode(const JobLogLine& value);
json::value Encode(const JobLogs& value);
json::value Encode(const LogCap& value);
json::value Encode(const AgentInfo& value);
json::value Encode(const AgentList& value);
json::value Encode(const EnrollRequest& value);
json::value Encode(const EnrollResponse& value);
json::value Encode(const TokenCreateRequest& value);
json::value Encode(const TokenCreated& value);
json::value Encode(const Whoami& value);
json::value Encode(const ArtifactInfo& value);
json::value Encode(const StoredArtifact& value);
json::value Encode(const ArtifactList& value);
json::value Encode(const Event& value);
json::value Encode(const EventList& value);
json::value Encode(const SubscribeMessage& value);
json::value Encode(const RolloutCounts& value);
json::value Encode(const InventorySummary& value);  // codec_inventory.cpp
json::value Encode(const HostTarget& value);

template <class T>
json::array EncodeArray(const std::vector<T>& items) {
  json::array array;
  array.reserve(items.size());
  for (const auto& item : items)
    array.push_back(Encode(item));
  return array;
}

// The "selector" of `r`'s object, when present: {"labels": {...}} with at least one label
// (POST /v1/jobs, rollout and schedule targets). Whether it may be given is the caller's rule.
void ReadSelector(Decoder& d, ObjectReader& r, std::optional<Labels>& out);

// Parses `text` (a JSON object) and reads one T from it, every problem named (strict: unknown
// fields too). Never throws.
template <class T>
Expected<T> DecodeText(std::string_view text, bool strict) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object()) return Fail(Errc::kInvalidRequest, "expected a JSON object");
    Decoder decoder(strict);
    T value{};
    Read(decoder, "", *parsed, value);
    if (decoder.problem_count() > 0) return Fail(decoder.ToError());
    return value;
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("JSON decoding failed: ") + e.what());
  } catch (...) {
    return Fail(Errc::kInternal, "JSON decoding failed: unknown exception");
  }
}

}  // namespace orb::protocol::codec_detail
