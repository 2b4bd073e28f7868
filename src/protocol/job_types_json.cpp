#include "protocol/job_types_json.hpp"

#include "protocol/codec_detail.hpp"
#include "protocol/job_types.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;
using codec_detail::Str;

std::string_view ToString(LockScope scope) {
  switch (scope) {
    case LockScope::kServer: return "server";
    case LockScope::kInstance: return "instance";
    case LockScope::kBackups: return "backups";
  }
  return "instance";
}

json::value TextOrNull(std::string_view text) {
  return text.empty() ? json::value(nullptr) : json::value(Str(text));
}

// A JSON literal from the registry (its own constant data, valid by construction and checked by
// the registry's tests); null if it ever were not.
json::value Literal(std::string_view text) {
  if (text.empty()) return nullptr;
  boost::system::error_code error;
  json::value value = json::parse(text, error);
  return error ? json::value(nullptr) : value;
}

json::value FieldJson(const PayloadField& field) {
  json::object object;
  object["name"] = Str(field.name);
  object["kind"] = Str(ToString(field.kind));
  object["required"] = field.required;
  object["nullable"] = field.nullable;
  object["default"] = Literal(field.default_value);
  if (field.enum_values.empty()) {
    object["enum"] = nullptr;
  } else {
    json::array values;
    for (const auto value : field.enum_values)
      values.push_back(Str(value));
    object["enum"] = std::move(values);
  }
  object["min"] = field.min ? json::value(*field.min) : json::value(nullptr);
  object["max"] = field.max ? json::value(*field.max) : json::value(nullptr);
  object["description"] = TextOrNull(field.description);
  return object;
}

json::value TypeJson(const JobTypeInfo& type) {
  json::object object;
  object["name"] = Str(type.name);
  object["target"] = Str(ToString(type.target));
  json::array locks;
  for (const auto& lock : type.locks) {
    locks.push_back(
        json::object{{"scope", Str(ToString(lock.scope))},
                     {"mode", lock.mode == LockMode::kExclusive ? "exclusive" : "shared"}});
  }
  object["locks"] = std::move(locks);
  object["cancellable"] = type.cancellable;
  object["notCancellableReason"] = TextOrNull(type.not_cancellable_reason);
  object["cancellableUntil"] = TextOrNull(type.cancellable_until);
  object["defaultTimeoutSeconds"] = type.default_timeout_seconds;
  object["defaultMaxAttempts"] = type.default_max_attempts;
  object["description"] = TextOrNull(type.description);
  object["examplePayload"] = Literal(type.example_payload);
  json::array fields;
  for (const auto& field : type.fields)
    fields.push_back(FieldJson(field));
  object["fields"] = std::move(fields);
  return object;
}

}  // namespace

const std::string& JobTypesJson() {
  static const std::string text = [] {
    json::array types;
    for (const auto& type : AllJobTypes())
      types.push_back(TypeJson(type));
    return json::serialize(json::object{{"jobTypes", std::move(types)}});
  }();
  return text;
}

}  // namespace orb::protocol
