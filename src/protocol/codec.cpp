#include "protocol/codec.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <utility>

#include "common/ids.hpp"
#include "protocol/codec_detail.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol {
namespace codec_detail {
namespace {

// Length of the valid UTF-8 sequence starting at text[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it is not valid.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

// WallTime counts nanoseconds in 64 bits (years 1678..2261), and ParseTimestamp does not check
// that range, so years outside kMinYear..kMaxYear are refused before parsing.
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2200;

bool HasSupportedYear(std::string_view text) {
  if (text.size() < 4) return false;
  int year = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    year = year * 10 + (text[i] - '0');
  }
  return year >= kMinYear && year <= kMaxYear;
}

std::string IntegerRangeProblem(std::int64_t lo, std::int64_t hi) {
  return "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
}

// Reads an integer that must lie in [lo, hi]; the shared core of the int readers.
bool ReadInteger(Decoder& d, const std::string& path, const json::value& v, std::int64_t lo,
                 std::int64_t hi, std::int64_t& out) {
  if (const std::int64_t* number = v.if_int64()) {
    if (*number < lo || *number > hi) {
      d.Problem(path, IntegerRangeProblem(lo, hi));
      return false;
    }
    out = *number;
    return true;
  }
  if (v.is_uint64()) {  // only values above INT64_MAX are parsed as uint64
    d.Problem(path, IntegerRangeProblem(lo, hi));
    return false;
  }
  if (const double* number = v.if_double()) {
    // Numbers with a fraction or an exponent arrive as doubles; integers must be plain.
    if (!std::isfinite(*number) || std::fabs(*number) >= 9.2e18) {
      d.Problem(path, IntegerRangeProblem(lo, hi));
    } else if (std::trunc(*number) != *number) {
      d.Problem(path, "must be an integer");
    } else {
      d.Problem(path, "must be an integer without fraction or exponent");
    }
    return false;
  }
  d.Problem(path, "must be an integer");
  return false;
}

template <class Enum, class Names>
bool ReadEnum(Decoder& d, const std::string& path, const json::value& v, Enum& out,
              std::optional<Enum> (*from_string)(std::string_view), const Names& names) {
  const json::string* text = v.if_string();
  std::optional<Enum> parsed;
  if (text != nullptr) parsed = from_string(std::string_view(*text));
  if (!parsed) {
    std::string problem = "must be one of";
    for (std::size_t i = 0; i < std::size(names); ++i) {
      problem += i == 0 ? " " : ", ";
      problem += ToString(names[i]);
    }
    d.Problem(path, std::move(problem));
    return false;
  }
  out = *parsed;
  return true;
}

constexpr JobStatus kAllJobStatuses[] = {JobStatus::kCreated, JobStatus::kQueued,
                                         JobStatus::kRunning, JobStatus::kCompleted,
                                         JobStatus::kFailed,  JobStatus::kCancelled};
constexpr RunStatus kAllRunStatuses[] = {RunStatus::kRunning, RunStatus::kCompleted,
                                         RunStatus::kFailed, RunStatus::kCancelled};
constexpr Role kAllRoles[] = {Role::kViewer, Role::kOperator, Role::kAdmin, Role::kAgent};
constexpr EventType kAllEventTypes[] = {
    EventType::kJobCreated,      EventType::kJobQueued,          EventType::kJobRunning,
    EventType::kJobProgress,     EventType::kJobCancelRequested, EventType::kJobCompleted,
    EventType::kJobFailed,       EventType::kJobCancelled,       EventType::kJobRetried,
    EventType::kAgentOnline,     EventType::kAgentOffline,       EventType::kAgentEnrolled,
    EventType::kAgentHealth,     EventType::kRolloutCreated,     EventType::kRolloutProgress,
    EventType::kRolloutPaused,   EventType::kRolloutResumed,     EventType::kRolloutCompleted,
    EventType::kRolloutAborted,  EventType::kScheduleCreated,    EventType::kScheduleUpdated,
    EventType::kScheduleDeleted, EventType::kScheduleFired,      EventType::kAgentInventory};

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// ---- Decoder and paths ----

void Decoder::Problem(std::string field, std::string problem) {
  ++total_;
  if (problems_.size() < kMaxFieldProblems) {
    problems_.push_back(FieldProblem{std::move(field), std::move(problem)});
  }
}

Error Decoder::ToError() const {
  // As every other field error: the first problem, then how many more (all of them counted).
  return ProblemsError(Errc::kInvalidRequest, problems_, 0, total_);
}

std::string FieldPath(std::string_view parent, std::string_view key) {
  std::string path;
  path.reserve(parent.size() + key.size() + 1);
  path += parent;
  if (!parent.empty()) path += '.';
  path += key;
  return path;
}

std::string ElementPath(std::string_view parent, std::size_t index) {
  std::string path(parent);
  path += '[';
  path += std::to_string(index);
  path += ']';
  return path;
}

Expected<json::value> ParseJson(std::string_view text, json::storage_ptr sp) {
  if (text.size() > kMaxJsonTextBytes) {
    return Fail(Errc::kPayloadTooLarge, "JSON text of " + std::to_string(text.size()) +
                                            " bytes is larger than the limit of " +
                                            std::to_string(kMaxJsonTextBytes));
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(Errc::kInvalidJson, "invalid JSON: empty text");
  }
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  options.allow_invalid_utf8 = false;
  json::parser parser(json::storage_ptr(), options);
  parser.reset(std::move(sp));
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (ec) {
    return Fail(Errc::kInvalidJson,
                "invalid JSON at byte " + std::to_string(consumed) + ": " + ec.message());
  }
  return parser.release();
}

bool CheckFiniteNumbers(Decoder& decoder, const std::string& path, const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_:
      if (!std::isfinite(value.get_double())) {
        decoder.Problem(path, "number is out of range");
        return false;
      }
      return true;
    case json::kind::array: {
      bool ok = true;
      const json::array& array = value.get_array();
      for (std::size_t i = 0; i < array.size(); ++i) {
        ok = CheckFiniteNumbers(decoder, ElementPath(path, i), array[i]) && ok;
      }
      return ok;
    }
    case json::kind::object: {
      bool ok = true;
      for (const auto& member : value.get_object()) {
        ok = CheckFiniteNumbers(decoder, FieldPath(path, member.key()), member.value()) && ok;
      }
      return ok;
    }
    default: return true;
  }
}

// ---- Scalar readers ----

bool Read(Decoder& d, const std::string& path, const json::value& v, std::string& out) {
  const json::string* text = v.if_string();
  if (text == nullptr) {
    d.Problem(path, "must be a string");
    return false;
  }
  out.assign(text->data(), text->size());
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, bool& out) {
  const bool* flag = v.if_bool();
  if (flag == nullptr) {
    d.Problem(path, "must be true or false");
    return false;
  }
  out = *flag;
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, int& out) {
  std::int64_t number = 0;
  if (!ReadInteger(d, path, v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max(),
                   number)) {
    return false;
  }
  out = static_cast<int>(number);
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, std::int64_t& out) {
  return ReadInteger(d, path, v, std::numeric_limits<std::int64_t>::min(),
                     std::numeric_limits<std::int64_t>::max(), out);
}

bool Read(Decoder& d, const std::string& path, const json::value& v, std::uint64_t& out) {
  if (const std::uint64_t* number = v.if_uint64()) {
    out = *number;
    return true;
  }
  std::int64_t number = 0;
  if (!ReadInteger(d, path, v, 0, std::numeric_limits<std::int64_t>::max(), number)) {
    return false;
  }
  out = static_cast<std::uint64_t>(number);
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, WallTime& out) {
  const json::string* text = v.if_string();
  std::optional<WallTime> parsed;
  if (text != nullptr && HasSupportedYear(std::string_view(*text))) {
    parsed = ParseTimestamp(std::string_view(*text));
  }
  if (!parsed) {
    d.Problem(path, "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00.123Z");
    return false;
  }
  out = *parsed;
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, JobStatus& out) {
  return ReadEnum(d, path, v, out, &JobStatusFromString, kAllJobStatuses);
}

bool Read(Decoder& d, const std::string& path, const json::value& v, RunStatus& out) {
  return ReadEnum(d, path, v, out, &RunStatusFromString, kAllRunStatuses);
}

bool Read(Decoder& d, const std::string& path, const json::value& v, Role& out) {
  return ReadEnum(d, path, v, out, &RoleFromString, kAllRoles);
}

bool Read(Decoder& d, const std::string& path, const json::value& v, EventType& out) {
  return ReadEnum(d, path, v, out, &EventTypeFromString, kAllEventTypes);
}

bool Read(Decoder& d, const std::string& path, const json::value& v, Labels& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  out.clear();
  bool ok = true;
  for (const auto& member : *object) {
    const std::string field = FieldPath(path, member.key());
    if (member.key().empty()) {
      d.Problem(path, "label names must not be empty");
      ok = false;
      continue;
    }
    std::string text;
    if (Read(d, field, member.value(), text)) {
      out.emplace(std::string(member.key()), std::move(text));
    } else {
      ok = false;
    }
  }
  return ok;
}

const json::object* AsObject(Decoder& d, const std::string& path, const json::value& v) {
  const json::object* object = v.if_object();
  if (object == nullptr) d.Problem(path, "must be an object");
  return object;
}

// ---- ObjectReader ----

const json::value* ObjectReader::Find(std::string_view key) {
  const auto it = object_.find(key);
  if (it == object_.end()) return nullptr;
  known_.push_back(it->key());
  if (it->value().is_null()) return nullptr;
  return &it->value();
}

bool ObjectReader::Has(std::string_view key) {
  const auto it = object_.find(key);
  if (it == object_.end()) return false;
  known_.push_back(it->key());
  return true;
}

bool ObjectReader::RequiredObjectJson(std::string_view key, std::string& out) {
  if (Find(key) == nullptr) {
    decoder_.Problem(Path(key), "is required");
    return false;
  }
  return OptionalObjectJson(key, out);
}

bool ObjectReader::OptionalObjectJson(std::string_view key, std::string& out) {
  const json::value* value = Find(key);
  if (value == nullptr) return false;
  const std::string path = Path(key);
  const json::object* object = AsObject(decoder_, path, *value);
  if (object == nullptr || !CheckFiniteNumbers(decoder_, path, *value)) return false;
  out = json::serialize(*object);
  return true;
}

bool ObjectReader::OptionalValueJson(std::string_view key, std::string& out) {
  const json::value* value = Find(key);
  if (value == nullptr) return false;
  if (!CheckFiniteNumbers(decoder_, Path(key), *value)) return false;
  out = json::serialize(*value);
  return true;
}

bool ObjectReader::OptionalObjectJson(std::string_view key, std::optional<std::string>& out) {
  out.reset();
  std::string text;
  if (!OptionalObjectJson(key, text)) return false;
  out = std::move(text);
  return true;
}

bool ObjectReader::Finish() {
  if (decoder_.strict()) {
    for (const auto& member : object_) {
      if (std::find(known_.begin(), known_.end(), member.key()) == known_.end()) {
        decoder_.Problem(Path(member.key()), "unknown field");
      }
    }
  }
  return decoder_.problem_count() == problems_before_;
}

// ---- Checks ----

bool CheckRange(Decoder& d, const std::string& path, std::int64_t value, std::int64_t lo,
                std::int64_t hi) {
  if (value >= lo && value <= hi) return true;
  d.Problem(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return false;
}

bool CheckName(Decoder& d, const std::string& path, const std::string& value) {
  if (IsValidName(value)) return true;
  d.Problem(path, "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  return false;
}

bool CheckNotEmpty(Decoder& d, const std::string& path, const std::string& value) {
  if (!value.empty()) return true;
  d.Problem(path, "must not be empty");
  return false;
}

// ---- Encoding helpers ----

json::string Str(std::string_view text) {
  if (IsValidUtf8(text)) return json::string(text);
  json::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

json::value Nullable(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  return Str(*text);
}

json::value Time(WallTime time) {
  return Str(FormatTimestamp(time));
}

json::value NullableTime(const std::optional<WallTime>& time) {
  if (!time) return nullptr;
  return Time(*time);
}

json::value NullableInt(const std::optional<int>& number) {
  if (!number) return nullptr;
  return *number;
}

json::value EmbeddedObject(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return json::object();
  return value;
}

json::value EmbeddedValue(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) return json::object();
  return value;
}

json::value NullableEmbeddedObject(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  boost::system::error_code ec;
  json::value value = json::parse(*text, ec);
  if (ec || !value.is_object()) return nullptr;
  return value;
}

json::value Encode(const std::string& text) {
  return Str(text);
}

json::value Encode(const Labels& labels) {
  json::object object;
  object.reserve(labels.size());
  for (const auto& [name, value] : labels)
    object.emplace(Str(name), Str(value));
  return object;
}

}  // namespace codec_detail

// ---- The public templates ----

namespace {

using codec_detail::Decoder;
namespace json = boost::json;

// Messages that clients send to the server: unknown fields are rejected.
template <class T>
constexpr bool kIsRequest = false;
template <>
constexpr bool kIsRequest<CreateJobRequest> = true;
template <>
constexpr bool kIsRequest<HelloRequest> = true;
template <>
constexpr bool kIsRequest<InterruptedRun> = true;
template <>
constexpr bool kIsRequest<NextRequest> = true;
template <>
constexpr bool kIsRequest<ProgressUpdate> = true;
template <>
constexpr bool kIsRequest<LogLine> = true;
template <>
constexpr bool kIsRequest<FinalUpdate> = true;
template <>
constexpr bool kIsRequest<UpdatesRequest> = true;
template <>
constexpr bool kIsRequest<AgentProblem> = true;
template <>
constexpr bool kIsRequest<AgentStatusReport> = true;
template <>
constexpr bool kIsRequest<EnrollRequest> = true;
template <>
constexpr bool kIsRequest<TokenCreateRequest> = true;
template <>
constexpr bool kIsRequest<SubscribeMessage> = true;

Error InternalDecodeError(const char* what) {
  return MakeError(Errc::kInternal, std::string("JSON decoding failed: ") + what);
}

}  // namespace

template <class T>
std::string ToJson(const T& value) {
  return json::serialize(codec_detail::Encode(value));
}

template <class T>
Expected<T> FromJson(std::string_view text) {
  return codec_detail::DecodeText<T>(text, kIsRequest<T>);
}

#define ORB_PROTOCOL_CODEC_TYPE(T)          \
  template std::string ToJson<T>(const T&); \
  template Expected<T> FromJson<T>(std::string_view);
ORB_PROTOCOL_CODEC_TYPE(RunError)
ORB_PROTOCOL_CODEC_TYPE(Job)
ORB_PROTOCOL_CODEC_TYPE(Run)
ORB_PROTOCOL_CODEC_TYPE(JobDetail)
ORB_PROTOCOL_CODEC_TYPE(CreateJobRequest)
ORB_PROTOCOL_CODEC_TYPE(BatchCreated)
ORB_PROTOCOL_CODEC_TYPE(JobList)
ORB_PROTOCOL_CODEC_TYPE(InterruptedRun)
ORB_PROTOCOL_CODEC_TYPE(HelloRequest)
ORB_PROTOCOL_CODEC_TYPE(HelloResponse)
ORB_PROTOCOL_CODEC_TYPE(NotifyResponse)
ORB_PROTOCOL_CODEC_TYPE(NextRequest)
ORB_PROTOCOL_CODEC_TYPE(JobExecution)
ORB_PROTOCOL_CODEC_TYPE(ProgressUpdate)
ORB_PROTOCOL_CODEC_TYPE(LogLine)
ORB_PROTOCOL_CODEC_TYPE(FinalUpdate)
ORB_PROTOCOL_CODEC_TYPE(UpdatesRequest)
ORB_PROTOCOL_CODEC_TYPE(UpdatesResponse)
ORB_PROTOCOL_CODEC_TYPE(AgentProblem)
ORB_PROTOCOL_CODEC_TYPE(AgentStatusReport)
ORB_PROTOCOL_CODEC_TYPE(JobLogLine)
ORB_PROTOCOL_CODEC_TYPE(JobLogs)
ORB_PROTOCOL_CODEC_TYPE(AgentInfo)
ORB_PROTOCOL_CODEC_TYPE(AgentList)
ORB_PROTOCOL_CODEC_TYPE(EnrollRequest)
ORB_PROTOCOL_CODEC_TYPE(EnrollResponse)
ORB_PROTOCOL_CODEC_TYPE(TokenCreateRequest)
ORB_PROTOCOL_CODEC_TYPE(TokenCreated)
ORB_PROTOCOL_CODEC_TYPE(Whoami)
ORB_PROTOCOL_CODEC_TYPE(ArtifactInfo)
ORB_PROTOCOL_CODEC_TYPE(StoredArtifact)
ORB_PROTOCOL_CODEC_TYPE(ArtifactList)
ORB_PROTOCOL_CODEC_TYPE(Event)
ORB_PROTOCOL_CODEC_TYPE(EventList)
ORB_PROTOCOL_CODEC_TYPE(SubscribeMessage)
ORB_PROTOCOL_CODEC_TYPE(Labels)
#undef ORB_PROTOCOL_CODEC_TYPE

// ---- Event stream ----

std::string StreamReadyJson(std::int64_t seq) {
  return json::serialize(json::object{{"type", "ready"}, {"seq", seq}});
}

std::string StreamEventJson(const Event& event) {
  return json::serialize(json::object{{"type", "event"}, {"event", codec_detail::Encode(event)}});
}

std::string StreamResyncJson() {
  return json::serialize(json::object{{"type", "resync"}});
}

Expected<StreamMessage> ParseStreamMessage(std::string_view text) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object()) return Fail(Errc::kInvalidRequest, "expected a JSON object");
    Decoder decoder(false);
    codec_detail::ObjectReader reader(decoder, "", parsed->get_object());
    StreamMessage message;
    std::string type;
    if (reader.Required("type", type)) {
      if (type == "ready") {
        message.kind = StreamMessage::Kind::kReady;
        reader.Required("seq", message.seq);
      } else if (type == "event") {
        message.kind = StreamMessage::Kind::kEvent;
        Event event;
        if (reader.Required("event", event)) message.event = std::move(event);
      } else if (type == "resync") {
        message.kind = StreamMessage::Kind::kResync;
      } else {
        decoder.Problem("type", "must be one of ready, event, resync");
      }
    }
    reader.Finish();
    if (decoder.problem_count() > 0) return Fail(decoder.ToError());
    return message;
  } catch (const std::exception& e) {
    return Fail(InternalDecodeError(e.what()));
  } catch (...) {
    return Fail(InternalDecodeError("unknown exception"));
  }
}

Expected<std::string> CanonicalJsonObject(std::string_view text) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object()) return Fail(Errc::kInvalidRequest, "must be a JSON object");
    Decoder decoder(false);
    if (!codec_detail::CheckFiniteNumbers(decoder, "", *parsed)) return Fail(decoder.ToError());
    return json::serialize(*parsed);
  } catch (const std::exception& e) {
    return Fail(InternalDecodeError(e.what()));
  } catch (...) {
    return Fail(InternalDecodeError("unknown exception"));
  }
}

}  // namespace orb::protocol
