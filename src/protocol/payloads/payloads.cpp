#include "protocol/payloads/payloads.hpp"

#include <utility>

#include "protocol/job_types.hpp"
#include "protocol/payloads/checker.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;

// Payloads are small objects; the schemas nest three levels at most. A deeper document is refused
// by the parser instead of being walked.
constexpr std::size_t kMaxDepth = 16;

Error UnknownType(std::string_view type) {
  std::string known;
  for (const auto& info : AllJobTypes()) {
    if (!known.empty()) known += ", ";
    known += info.name;
  }
  Error error = MakeError(Errc::kUnknownJobType,
                          "unknown job type \"" + std::string(type) + "\"; known types: " + known);
  error.details.push_back({"type", "must be one of " + known});
  return error;
}

// Parses and checks; on success `object` holds the payload.
Status Check(const payloads::PayloadSpec& spec, std::string_view payload_json,
             json::object& object) {
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(payload_json.data(), payload_json.size()), ec,
                                  json::storage_ptr(), options);
  if (ec) {
    return Fail(ProblemsError(Errc::kInvalidPayload,
                              {{"payload", "must be a valid JSON object: " + ec.message()}}));
  }
  if (!value.is_object()) {
    return Fail(ProblemsError(Errc::kInvalidPayload, {{"payload", "must be a JSON object"}}));
  }
  object = std::move(value.get_object());
  payloads::Problems problems;
  payloads::CheckAgainstSchema(object, spec.fields, problems);
  if (spec.extra_check != nullptr) spec.extra_check(object, problems);
  if (!problems.empty()) return Fail(ProblemsError(Errc::kInvalidPayload, std::move(problems)));
  return Ok();
}

}  // namespace

Error ProblemsError(Errc code, std::vector<FieldProblem> problems, std::size_t lead,
                    std::size_t total) {
  if (total < problems.size()) total = problems.size();
  std::string message;
  if (problems.empty()) {
    message = "invalid request";
  } else {
    if (lead >= problems.size()) lead = 0;
    message = problems[lead].field + ": " + problems[lead].problem;
    if (total > 1) {
      const std::size_t more = total - 1;
      message += " (and " + std::to_string(more) + " more problem" + (more > 1 ? "s" : "") + ")";
    }
  }
  Error error = MakeError(code, std::move(message));
  error.details = std::move(problems);
  return error;
}

Status ValidatePayload(std::string_view type, std::string_view payload_json) {
  const payloads::PayloadSpec* spec = payloads::FindPayloadSpec(type);
  if (spec == nullptr) return Fail(UnknownType(type));
  json::object object;
  return Check(*spec, payload_json, object);
}

Expected<std::string> NormalizePayload(std::string_view type, std::string_view payload_json) {
  const payloads::PayloadSpec* spec = payloads::FindPayloadSpec(type);
  if (spec == nullptr) return Fail(UnknownType(type));
  json::object object;
  if (auto status = Check(*spec, payload_json, object); !status) return Fail(status.error());
  payloads::FillDefaults(object, spec->fields);
  return json::serialize(object);
}

}  // namespace orb::protocol
