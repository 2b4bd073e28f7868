#include "protocol/validate_job.hpp"

#include <string>
#include <vector>

#include "common/ids.hpp"
#include "protocol/job_types.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol {
namespace {

constexpr std::string_view kNameProblem =
    "must be a name matching ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

bool IsPrintableAscii(std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Text without control characters; UTF-8 beyond ASCII is fine (JSON and TOML strings are valid
// UTF-8 once decoded, so only the bytes below 0x20 and DEL need refusing).
bool IsPrintableText(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool IsLabelKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxLabelKey) return false;
  for (const char c : key) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

void CheckRange(std::vector<FieldProblem>& problems, std::string_view field,
                const std::optional<int>& value, int min, int max) {
  if (value && (*value < min || *value > max)) {
    problems.push_back({std::string(field), "must be an integer between " + std::to_string(min) +
                                                " and " + std::to_string(max)});
  }
}

}  // namespace

void CheckLabels(std::string_view field, const Labels& labels,
                 std::vector<FieldProblem>& problems) {
  if (labels.size() > kMaxSelectorLabels) {
    problems.push_back({std::string(field),
                        "must have at most " + std::to_string(kMaxSelectorLabels) + " labels"});
  }
  for (const auto& [key, value] : labels) {
    // The key shown as the label's field only when it is printable (never a NUL in a message).
    const std::string where = std::string(field) + "." + (IsPrintableAscii(key) ? key : "?");
    if (!IsLabelKey(key)) {
      problems.push_back({where, "key must be 1 to " + std::to_string(kMaxLabelKey) +
                                     " characters of [A-Za-z0-9._/-]"});
    }
    if (value.empty() || value.size() > kMaxLabelValue || !IsPrintableText(value)) {
      problems.push_back({where, "value must be 1 to " + std::to_string(kMaxLabelValue) +
                                     " bytes of text without control characters"});
    }
  }
}

Status ValidateLabels(std::string_view field, const Labels& labels) {
  std::vector<FieldProblem> problems;
  CheckLabels(field, labels, problems);
  if (problems.empty()) return Ok();
  return Fail(ProblemsError(Errc::kInvalidRequest, std::move(problems)));
}

namespace {

void CheckTargeting(const CreateJobRequest& request, std::vector<FieldProblem>& problems) {
  if (request.agent_id && request.selector_labels) {
    problems.push_back({"selector", "must not be given together with agentId"});
  } else if (!request.agent_id && !request.selector_labels) {
    problems.push_back({"agentId", "is required (or a selector)"});
  }
  if (request.agent_id && !IsValidName(*request.agent_id)) {
    problems.push_back({"agentId", std::string(kNameProblem)});
  }
  if (!request.selector_labels) return;
  const Labels& labels = *request.selector_labels;
  if (labels.empty()) {
    problems.push_back({"selector.labels",
                        "must have at least one label (a selector matching "
                        "every agent is not allowed)"});
  }
  CheckLabels("selector.labels", labels, problems);
}

void CheckTarget(const JobTypeInfo* info, const CreateJobRequest& request,
                 std::vector<FieldProblem>& problems) {
  const auto check = [&](std::string_view field, const std::optional<std::string>& id,
                         bool wanted) {
    if (info != nullptr && wanted && !id) {
      problems.push_back({std::string(field), "is required for " + std::string(info->name)});
    } else if (info != nullptr && !wanted && id) {
      problems.push_back({std::string(field),
                          "must not be set for " + std::string(info->name) + " (its target is " +
                              (info->target == TargetKind::kServer ? "serverId" : "instanceId") +
                              ")"});
    } else if (id && !IsValidName(*id)) {
      problems.push_back({std::string(field), std::string(kNameProblem)});
    }
  };
  const bool server = info != nullptr && info->target == TargetKind::kServer;
  const bool instance = info != nullptr && info->target == TargetKind::kInstance;
  check("instanceId", request.instance_id, instance || info == nullptr);
  check("serverId", request.server_id, server || info == nullptr);
}

void CheckDependsOn(const std::vector<std::string>& ids, std::vector<FieldProblem>& problems) {
  if (ids.size() > kMaxDependsOn) {
    problems.push_back({"dependsOn", "must list at most " + std::to_string(kMaxDependsOn) +
                                         " jobs, got " + std::to_string(ids.size())});
    return;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string field = "dependsOn[" + std::to_string(i) + "]";
    if (ids[i].empty() || ids[i].size() > kMaxDependencyId || !IsPrintableAscii(ids[i])) {
      problems.push_back({field, "must be a job id of 1 to " + std::to_string(kMaxDependencyId) +
                                     " printable ASCII characters"});
      continue;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (ids[j] == ids[i]) {
        problems.push_back({field, "repeats dependsOn[" + std::to_string(j) + "]"});
        break;
      }
    }
  }
}

}  // namespace

Status ValidateCreateJob(const CreateJobRequest& request, std::size_t max_payload_bytes) {
  std::vector<FieldProblem> problems;  // in the field order of protocol.md §5
  bool request_problem = false;
  bool too_large = false;

  CheckTargeting(request, problems);
  const JobTypeInfo* info = FindJobType(request.type);
  if (info == nullptr) {
    problems.push_back({"type", request.type.empty()
                                    ? "is required"
                                    : "is not a known job type: \"" + request.type + "\""});
  }
  CheckTarget(info, request, problems);
  request_problem = !problems.empty();

  if (request.payload_json.size() > max_payload_bytes) {
    too_large = true;
    problems.push_back({"payload", "must be at most " + std::to_string(max_payload_bytes) +
                                       " bytes of JSON, got " +
                                       std::to_string(request.payload_json.size())});
  } else if (info != nullptr) {
    if (auto status = ValidatePayload(request.type, request.payload_json); !status) {
      for (auto& problem : status.error().details)
        problems.push_back(std::move(problem));
    }
  }

  const std::size_t before = problems.size();
  CheckRange(problems, "priority", request.priority, kMinPriority, kMaxPriority);
  CheckRange(problems, "maxAttempts", request.max_attempts, 1, kMaxMaxAttempts);
  CheckRange(problems, "retryBackoffSeconds", request.retry_backoff_seconds, 1,
             kMaxRetryBackoffSeconds);
  CheckRange(problems, "timeoutSeconds", request.timeout_seconds, 1, kMaxTimeoutSeconds);
  if (request.idempotency_key) {
    const std::string& key = *request.idempotency_key;
    if (key.empty() || key.size() > kMaxIdempotencyKey || !IsPrintableAscii(key)) {
      problems.push_back({"idempotencyKey", "must be 1 to " + std::to_string(kMaxIdempotencyKey) +
                                                " printable ASCII characters"});
    }
  }
  CheckDependsOn(request.depends_on, problems);
  request_problem = request_problem || problems.size() > before;

  if (problems.empty()) return Ok();
  // The code is the most specific problem's; the message names that problem.
  const auto first = [&](auto predicate) -> std::size_t {
    for (std::size_t i = 0; i < problems.size(); ++i) {
      if (predicate(problems[i].field)) return i;
    }
    return 0;
  };
  const auto is_payload = [](const std::string& field) {
    return field == "payload" || field.starts_with("payload.");
  };
  if (too_large) {
    const std::size_t lead = first(is_payload);
    return Fail(ProblemsError(Errc::kPayloadTooLarge, std::move(problems), lead));
  }
  if (info == nullptr) {
    const std::size_t lead = first([](const std::string& field) { return field == "type"; });
    return Fail(ProblemsError(Errc::kUnknownJobType, std::move(problems), lead));
  }
  if (request_problem) {
    const std::size_t lead = first([&](const std::string& field) { return !is_payload(field); });
    return Fail(ProblemsError(Errc::kInvalidRequest, std::move(problems), lead));
  }
  return Fail(ProblemsError(Errc::kInvalidPayload, std::move(problems)));
}

}  // namespace orb::protocol
