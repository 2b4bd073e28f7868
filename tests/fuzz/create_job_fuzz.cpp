// POST /v1/jobs after the HTTP layer: the request body decoded, then validated with every
// payload schema (protocol/validate_job.hpp). A request that validates has a payload that its
// type's agent-side parser accepts, and a canonical payload that normalizes to itself.

#include "fuzz/fuzz_target.hpp"
#include "protocol/codec.hpp"
#include "protocol/payloads/payloads.hpp"
#include "protocol/validate_job.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace orb::protocol;
  auto request = FromJson<CreateJobRequest>(orb::fuzz::AsText(data, size));
  if (!request) return 0;
  if (!ValidateCreateJob(*request)) return 0;
  auto normalized = NormalizePayload(request->type, request->payload_json);
  ORB_FUZZ_CHECK(normalized.has_value());
  auto again = NormalizePayload(request->type, *normalized);
  ORB_FUZZ_CHECK(again.has_value() && *again == *normalized);
  return 0;
}
