#include "protocol/api_error.hpp"

#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::HasSubstr;

// Every Errc with the status and wire code a client must see (protocol.md §1).
struct Expectation {
  Errc code;
  int status;
  Errc wire;
};

const std::vector<Expectation>& AllCodes() {
  static const std::vector<Expectation> all = {
      {Errc::kInvalidJson, 400, Errc::kInvalidJson},
      {Errc::kInvalidRequest, 400, Errc::kInvalidRequest},
      {Errc::kInvalidPayload, 400, Errc::kInvalidPayload},
      {Errc::kUnknownJobType, 400, Errc::kUnknownJobType},
      {Errc::kUnauthenticated, 401, Errc::kUnauthenticated},
      {Errc::kForbidden, 403, Errc::kForbidden},
      {Errc::kNotFound, 404, Errc::kNotFound},
      {Errc::kMethodNotAllowed, 405, Errc::kMethodNotAllowed},
      {Errc::kInvalidState, 409, Errc::kInvalidState},
      {Errc::kNotCancellable, 409, Errc::kNotCancellable},
      {Errc::kRunNotActive, 409, Errc::kRunNotActive},
      {Errc::kIdempotencyConflict, 409, Errc::kIdempotencyConflict},
      {Errc::kAlreadyExists, 409, Errc::kAlreadyExists},
      {Errc::kPayloadTooLarge, 413, Errc::kPayloadTooLarge},
      {Errc::kUnsupportedMediaType, 415, Errc::kUnsupportedMediaType},
      {Errc::kRateLimited, 429, Errc::kRateLimited},
      {Errc::kUnavailable, 503, Errc::kUnavailable},
      {Errc::kInternal, 500, Errc::kInternal},
      {Errc::kIo, 500, Errc::kInternal},
      {Errc::kTimeout, 503, Errc::kUnavailable},
      {Errc::kCancelled, 503, Errc::kUnavailable},
      {Errc::kNetwork, 503, Errc::kUnavailable},
      {Errc::kHttp, 500, Errc::kInternal},
      {Errc::kAgentLost, 500, Errc::kInternal},
      {Errc::kAgentRestarted, 500, Errc::kInternal},
      {Errc::kChecksumMismatch, 500, Errc::kInternal},
      {Errc::kUnsafeArchive, 500, Errc::kInternal},
      {Errc::kBackupCorrupt, 500, Errc::kInternal},
      {Errc::kInstanceNotReady, 500, Errc::kInternal},
      {Errc::kUpdateRolledBack, 500, Errc::kInternal},
      {Errc::kNotInstalled, 500, Errc::kInternal},
      {Errc::kStore, 500, Errc::kInternal},
  };
  return all;
}

TEST(ApiErrorTest, TheExpectationsCoverEveryErrc) {
  ASSERT_EQ(AllCodes().size(), static_cast<std::size_t>(Errc::kStore) + 1);
  for (std::size_t i = 0; i < AllCodes().size(); ++i) {
    EXPECT_EQ(AllCodes()[i].code, static_cast<Errc>(i)) << i;
  }
}

TEST(ApiErrorTest, EveryCodeGetsTheStatusOfTheSpecTable) {
  for (const auto& expected : AllCodes()) {
    EXPECT_EQ(HttpStatusFor(expected.code), expected.status) << ToString(expected.code);
    EXPECT_EQ(WireCode(expected.code), expected.wire) << ToString(expected.code);
  }
}

TEST(ApiErrorTest, BodyMatchesTheSpecExample) {
  Error error = MakeError(Errc::kInvalidPayload, "payload.keepLast: must be an integer >= 1");
  error.details.push_back({"payload.keepLast", "must be an integer >= 1"});
  EXPECT_EQ(ErrorBodyJson(error),
            R"({"error":{"code":"invalid_payload","message":"payload.keepLast: must be an )"
            R"(integer >= 1","details":[{"field":"payload.keepLast","problem":"must be an )"
            R"(integer >= 1"}]}})");
}

TEST(ApiErrorTest, BodyAlwaysHasDetailsAndNeverALocalCode) {
  EXPECT_EQ(ErrorBodyJson(MakeError(Errc::kNotFound, "no job j1")),
            R"({"error":{"code":"not_found","message":"no job j1","details":[]}})");
  Error io = MakeError(Errc::kIo, "disk full", true).WithContext("save job");
  EXPECT_EQ(ErrorBodyJson(io),
            R"({"error":{"code":"internal","message":"disk full","details":[]}})");
  EXPECT_THAT(ErrorBodyJson(MakeError(Errc::kTimeout, "store busy")),
              HasSubstr(R"("code":"unavailable")"));
}

TEST(ApiErrorTest, BodyIsValidJsonEvenForInvalidUtf8Messages) {
  const auto back = ErrorFromBodyJson(ErrorBodyJson(MakeError(Errc::kNotFound, "no \xff job")));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->message, "no \xEF\xBF\xBD job");
}

TEST(ApiErrorTest, ClientsParseTheBodyBack) {
  Error error = MakeError(Errc::kInvalidRequest, "invalid request: a: b; c: d");
  error.details = {{"a", "b"}, {"c", "d"}};
  const auto back = ErrorFromBodyJson(ErrorBodyJson(error));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->code, Errc::kInvalidRequest);
  EXPECT_EQ(back->message, error.message);
  EXPECT_EQ(back->details, error.details);

  for (const auto& expected : AllCodes()) {
    const auto parsed = ErrorFromBodyJson(ErrorBodyJson(MakeError(expected.code, "m")));
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(parsed->code, expected.wire);
  }
}

TEST(ApiErrorTest, ClientsToleratePartsTheyDoNotKnow) {
  const auto parsed = ErrorFromBodyJson(
      R"({"error":{"code":"quota_exceeded","message":"too many","hint":"wait"},"requestId":"r"})");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->code, Errc::kInternal);
  EXPECT_THAT(parsed->message, HasSubstr("quota_exceeded"));
  EXPECT_THAT(parsed->message, HasSubstr("too many"));
  EXPECT_TRUE(parsed->details.empty());
}

TEST(ApiErrorTest, ClientsRejectWhatIsNotAnErrorBody) {
  EXPECT_THAT(ErrorFromBodyJson("<html>502 Bad Gateway</html>"), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(ErrorFromBodyJson(""), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(ErrorFromBodyJson("[]"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ErrorFromBodyJson("{}"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ErrorFromBodyJson(R"({"error":"boom"})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ErrorFromBodyJson(R"({"error":{"message":"m"}})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ErrorFromBodyJson(R"({"error":{"code":"x","message":"m","details":{}}})"),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ErrorFromBodyJson(R"({"error":{"code":"x","message":"m","details":[1]}})"),
              FailsWith(Errc::kInvalidRequest));
}

}  // namespace
}  // namespace orb::protocol
