#include "protocol/api_error.hpp"

#include <exception>
#include <utility>

#include <boost/json.hpp>

#include "protocol/codec_detail.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;
using codec_detail::Decoder;
using codec_detail::ObjectReader;

}  // namespace

Errc WireCode(Errc code) {
  switch (code) {
    case Errc::kInvalidJson:
    case Errc::kInvalidRequest:
    case Errc::kInvalidPayload:
    case Errc::kUnknownJobType:
    case Errc::kUnauthenticated:
    case Errc::kForbidden:
    case Errc::kNotFound:
    case Errc::kMethodNotAllowed:
    case Errc::kInvalidState:
    case Errc::kNotCancellable:
    case Errc::kRunNotActive:
    case Errc::kIdempotencyConflict:
    case Errc::kAlreadyExists:
    case Errc::kPayloadTooLarge:
    case Errc::kUnsupportedMediaType:
    case Errc::kRateLimited:
    case Errc::kUnavailable:
    case Errc::kInternal: return code;
    case Errc::kTimeout:
    case Errc::kCancelled:
    case Errc::kNetwork: return Errc::kUnavailable;
    case Errc::kIo:
    case Errc::kHttp:
    case Errc::kAgentLost:
    case Errc::kAgentRestarted:
    case Errc::kChecksumMismatch:
    case Errc::kUnsafeArchive:
    case Errc::kBackupCorrupt:
    case Errc::kInstanceNotReady:
    case Errc::kUpdateRolledBack:
    case Errc::kNotInstalled:
    case Errc::kStore: return Errc::kInternal;
  }
  return Errc::kInternal;
}

int HttpStatusFor(Errc code) {
  switch (WireCode(code)) {
    case Errc::kInvalidJson:
    case Errc::kInvalidRequest:
    case Errc::kInvalidPayload:
    case Errc::kUnknownJobType: return 400;
    case Errc::kUnauthenticated: return 401;
    case Errc::kForbidden: return 403;
    case Errc::kNotFound: return 404;
    case Errc::kMethodNotAllowed: return 405;
    case Errc::kInvalidState:
    case Errc::kNotCancellable:
    case Errc::kRunNotActive:
    case Errc::kIdempotencyConflict:
    case Errc::kAlreadyExists: return 409;
    case Errc::kPayloadTooLarge: return 413;
    case Errc::kUnsupportedMediaType: return 415;
    case Errc::kRateLimited: return 429;
    case Errc::kUnavailable: return 503;
    default: return 500;
  }
}

std::string ErrorBodyJson(const Error& error) {
  json::array details;
  details.reserve(error.details.size());
  for (const auto& problem : error.details) {
    details.push_back(json::object{{"field", codec_detail::Str(problem.field)},
                                   {"problem", codec_detail::Str(problem.problem)}});
  }
  json::object body{{"code", ToString(WireCode(error.code))},
                    {"message", codec_detail::Str(error.message)},
                    {"details", std::move(details)}};
  return json::serialize(json::object{{"error", std::move(body)}});
}

Expected<Error> ErrorFromBodyJson(std::string_view text) {
  try {
    json::monotonic_resource resource;
    Expected<json::value> parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->is_object()) return Fail(Errc::kInvalidRequest, "expected a JSON object");
    Decoder decoder(false);
    ObjectReader outer(decoder, "", parsed->get_object());
    Error error;
    std::string code;
    if (const json::value* inner = outer.Find("error")) {
      if (const json::object* object = codec_detail::AsObject(decoder, "error", *inner)) {
        ObjectReader r(decoder, "error", *object);
        r.Required("code", code);
        r.Required("message", error.message);
        if (const json::value* list = r.Find("details")) {
          if (const json::array* array = list->if_array()) {
            for (std::size_t i = 0; i < array->size(); ++i) {
              const std::string path = codec_detail::ElementPath("error.details", i);
              const json::object* item = codec_detail::AsObject(decoder, path, (*array)[i]);
              if (item == nullptr) continue;
              ObjectReader d(decoder, path, *item);
              FieldProblem problem;
              d.Required("field", problem.field);
              d.Required("problem", problem.problem);
              if (d.Finish()) error.details.push_back(std::move(problem));
            }
          } else {
            decoder.Problem("error.details", "must be an array");
          }
        }
        r.Finish();
      }
    } else {
      decoder.Problem("error", "is required");
    }
    outer.Finish();
    if (decoder.problem_count() > 0) return Fail(decoder.ToError());
    if (const std::optional<Errc> known = ErrcFromString(code)) {
      error.code = *known;
    } else {
      error.code = Errc::kInternal;
      error.message = "(code " + code + ") " + error.message;
    }
    // Expected<Error>'s converting constructor treats an Error as the failure: say "value".
    return Expected<Error>(tl::in_place, std::move(error));
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("JSON decoding failed: ") + e.what());
  } catch (...) {
    return Fail(Errc::kInternal, "JSON decoding failed");
  }
}

}  // namespace orb::protocol
