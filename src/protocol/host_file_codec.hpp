#pragma once

// Internal to src/protocol: decoding of job payloads and of the JSON files the agent keeps on the
// host (build records, manifests, markers), shared by build_json.cpp and backup_json.cpp.

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/codec_detail.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol::codec_detail {

// An exception thrown while decoding (bad_alloc) as an internal error naming what was decoded.
inline Error DecodeFailure(std::string_view what, const std::exception& e) {
  return MakeError(Errc::kInternal, "decode " + std::string(what) + ": " + e.what());
}

// Validates and normalizes a payload of `type` against its schema, parses it and hands the
// object to `read(reader, out)`. Problems are kInvalidPayload.
template <class T, class ReadFn>
Expected<T> DecodePayload(std::string_view type, std::string_view payload_json, ReadFn read) {
  try {
    auto normalized = NormalizePayload(type, payload_json);
    if (!normalized) return Fail(std::move(normalized.error()));
    json::monotonic_resource resource;
    auto parsed = ParseJson(*normalized, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    Decoder decoder(false);
    T payload;
    if (const json::object* object = AsObject(decoder, "payload", *parsed)) {
      ObjectReader reader(decoder, "payload", *object);
      read(reader, payload);
    }
    if (decoder.problem_count() > 0) {
      Error error = decoder.ToError();
      error.code = Errc::kInvalidPayload;
      return Fail(std::move(error));
    }
    return payload;
  } catch (const std::exception& e) {
    return Fail(DecodeFailure(std::string(type) + " payload", e));
  }
}

// A JSON object text of one of the host's own files parsed into `T` with `read(reader, out)`.
// Problems carry `what` as their context.
template <class T, class ReadFn>
Expected<T> DecodeFile(std::string_view what, std::string_view text, ReadFn read) {
  try {
    json::monotonic_resource resource;
    auto parsed = ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()).WithContext(std::string(what)));
    Decoder decoder(false);
    T out;
    if (const json::object* object = AsObject(decoder, "", *parsed)) {
      ObjectReader reader(decoder, "", *object);
      read(reader, out);
    }
    if (decoder.problem_count() > 0) return Fail(decoder.ToError().WithContext(std::string(what)));
    return out;
  } catch (const std::exception& e) {
    return Fail(DecodeFailure(what, e));
  }
}

inline json::array Strings(const std::vector<std::string>& items) {
  json::array array;
  array.reserve(items.size());
  for (const auto& item : items)
    array.push_back(Str(item));
  return array;
}

}  // namespace orb::protocol::codec_detail
