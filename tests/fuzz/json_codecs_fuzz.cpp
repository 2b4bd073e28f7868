// Every JSON codec of the wire types (protocol/codec.hpp): the first byte picks the type, the rest
// is the JSON text. A text that decodes must encode, and what it encodes to must decode to the
// same value.

#include <tuple>

#include "fuzz/fuzz_target.hpp"
#include "protocol/codec.hpp"
#include "protocol/rollout_codec.hpp"
#include "protocol/schedules.hpp"

namespace {

using namespace orb::protocol;

template <class T>
void RoundTrip(std::string_view text) {
  auto decoded = FromJson<T>(text);
  if (!decoded) return;
  const std::string encoded = ToJson(*decoded);
  auto again = FromJson<T>(encoded);
  ORB_FUZZ_CHECK(again.has_value());
  ORB_FUZZ_CHECK(*again == *decoded);
  ORB_FUZZ_CHECK(ToJson(*again) == encoded);
}

using Types = std::tuple<RunError, Job, Run, JobDetail, CreateJobRequest, BatchCreated, JobList,
                         InterruptedRun, HelloRequest, HelloResponse, NotifyResponse, NextRequest,
                         JobExecution, ProgressUpdate, LogLine, FinalUpdate, UpdatesRequest,
                         UpdatesResponse, JobLogLine, JobLogs, AgentInfo, AgentList, EnrollRequest,
                         EnrollResponse, TokenCreateRequest, TokenCreated, Whoami, ArtifactInfo,
                         Event, EventList, SubscribeMessage, Labels, AgentProblem,
                         AgentStatusReport, StoredArtifact, ArtifactList>;

// The schedule and rollout codecs (protocol/schedules.hpp, rollout_codec.hpp) have functions of
// their own, not FromJson<T>.
template <class T, class Parse>
void RoundTripWith(std::string_view text, Parse parse) {
  auto decoded = parse(text);
  if (!decoded) return;
  const std::string encoded = ToJson(*decoded);
  auto again = parse(encoded);
  ORB_FUZZ_CHECK(again.has_value());
  ORB_FUZZ_CHECK(*again == *decoded);
  ORB_FUZZ_CHECK(ToJson(*again) == encoded);
}

template <std::size_t... I>
void Dispatch(std::size_t which, std::string_view text, std::index_sequence<I...>) {
  ((which == I ? RoundTrip<std::tuple_element_t<I, Types>>(text) : void()), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr std::size_t kTypes = std::tuple_size_v<Types>;
  const std::size_t which = data[0] % kTypes;
  Dispatch(which, orb::fuzz::AsText(data + 1, size - 1), std::make_index_sequence<kTypes>{});
  // The stream messages a client decodes.
  if (which == 0) (void)ParseStreamMessage(orb::fuzz::AsText(data + 1, size - 1));
  // Schedules: every input, whatever its first byte.
  const std::string_view text = orb::fuzz::AsText(data + 1, size - 1);
  RoundTripWith<ScheduleRequest>(text,
                                 [](std::string_view t) { return ParseScheduleRequest(t, false); });
  RoundTripWith<Schedule>(text, [](std::string_view t) { return ParseSchedule(t); });
  RoundTripWith<ScheduleList>(text, [](std::string_view t) { return ParseScheduleList(t); });
  RoundTripWith<ScheduleFired>(text, [](std::string_view t) { return ParseScheduleFired(t); });
  // Rollouts: the request, the answers and the stored forms, every input too.
  RoundTripWith<CreateRolloutRequest>(
      text, [](std::string_view t) { return ParseCreateRolloutRequest(t); });
  RoundTripWith<Rollout>(text, [](std::string_view t) { return ParseRollout(t); });
  RoundTripWith<RolloutList>(text, [](std::string_view t) { return ParseRolloutList(t); });
  RoundTripWith<RolloutHostList>(text, [](std::string_view t) { return ParseRolloutHostList(t); });
  RoundTripWith<HostTarget>(text, [](std::string_view t) { return ParseHostTarget(t); });
  RoundTripWith<RolloutPolicySpec>(text, [](std::string_view t) { return ParseRolloutPolicy(t); });
  RoundTripWith<RolloutCounts>(text, [](std::string_view t) { return ParseRolloutCounts(t); });
  (void)ParseAbortRolloutRequest(text);
  return 0;
}
