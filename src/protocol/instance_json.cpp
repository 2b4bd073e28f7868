#include "protocol/instance_json.hpp"

#include <exception>
#include <utility>

#include "protocol/codec_detail.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;
using codec_detail::Decoder;
using codec_detail::ObjectReader;
using codec_detail::Str;

constexpr std::string_view kStartType = "START_INSTANCE";

Error DecodeFailure(std::string_view what, const std::exception& e) {
  return MakeError(Errc::kInternal, "decode " + std::string(what) + ": " + e.what());
}

// Reads a config object that ValidatePayload has accepted and NormalizePayload has completed.
InstanceConfig ReadConfig(Decoder& decoder, const json::object& object) {
  InstanceConfig config;
  ObjectReader r(decoder, "payload.config", object);
  r.Required("serverId", config.server_id);
  r.Required("command", config.command);
  r.Optional("env", config.env);
  r.Optional("stopCommand", config.stop_command);
  r.Optional("stopSignal", config.stop_signal);
  r.Optional("stopTimeoutSeconds", config.stop_timeout_seconds);
  r.Optional("readyPattern", config.ready_pattern);
  r.Optional("readyTimeoutSeconds", config.ready_timeout_seconds);
  return config;
}

// Validates and normalizes a START_INSTANCE payload text, then decodes it.
Expected<StartInstancePayload> DecodeStart(std::string_view payload_json) {
  auto normalized = NormalizePayload(kStartType, payload_json);
  if (!normalized) return Fail(std::move(normalized.error()));
  json::monotonic_resource resource;
  auto parsed = codec_detail::ParseJson(*normalized, &resource);
  if (!parsed) return Fail(std::move(parsed.error()));
  Decoder decoder(false);
  StartInstancePayload payload;
  if (const json::value* config = parsed->get_object().if_contains("config");
      config != nullptr && config->is_object()) {
    payload.config = ReadConfig(decoder, config->get_object());
  }
  if (decoder.problem_count() > 0) {
    Error error = decoder.ToError();
    error.code = Errc::kInvalidPayload;
    return Fail(std::move(error));
  }
  return payload;
}

json::value EncodeExit(const InstanceExit& exit) {
  json::object object;
  object["pid"] = exit.pid ? json::value(*exit.pid) : json::value(nullptr);
  object["exitCode"] = exit.exit_code ? json::value(*exit.exit_code) : json::value(nullptr);
  object["signal"] = exit.signal ? json::value(*exit.signal) : json::value(nullptr);
  object["forced"] = exit.forced;
  object["reason"] = Str(exit.reason);
  object["at"] = codec_detail::Time(exit.at);
  return object;
}

bool ReadExit(Decoder& d, const std::string& path, const json::value& v, InstanceExit& out) {
  const json::object* object = codec_detail::AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Optional("pid", out.pid);
  r.Optional("exitCode", out.exit_code);
  r.Optional("signal", out.signal);
  r.Optional("forced", out.forced);
  r.Optional("reason", out.reason);
  r.Required("at", out.at);
  return r.Finish();
}

json::object EncodeStop(const StopInstanceResult& result) {
  json::object object;
  object["exitCode"] = result.exit_code ? json::value(*result.exit_code) : json::value(nullptr);
  object["forced"] = result.forced;
  if (result.already_stopped) object["alreadyStopped"] = true;
  return object;
}

json::object EncodeStart(const StartInstanceResult& result) {
  json::object object;
  object["instanceId"] = Str(result.instance_id);
  object["pid"] = result.pid;
  object["buildId"] = Str(result.build_id);
  if (result.already_running) object["alreadyRunning"] = true;
  return object;
}

}  // namespace

Expected<StartInstancePayload> ParseStartInstancePayload(std::string_view payload_json) {
  try {
    return DecodeStart(payload_json);
  } catch (const std::exception& e) {
    return Fail(DecodeFailure("START_INSTANCE payload", e));
  }
}

Expected<StopInstancePayload> ParseStopInstancePayload(std::string_view type,
                                                       std::string_view payload_json) {
  try {
    if (type != "STOP_INSTANCE" && type != "RESTART_INSTANCE") {
      return Fail(Errc::kInternal,
                  "ParseStopInstancePayload: not a stop type: " + std::string(type));
    }
    if (auto valid = ValidatePayload(type, payload_json); !valid) return Fail(valid.error());
    json::monotonic_resource resource;
    auto parsed = codec_detail::ParseJson(payload_json, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    Decoder decoder(false);
    ObjectReader r(decoder, "payload", parsed->get_object());
    StopInstancePayload payload;
    r.Optional("timeoutSeconds", payload.timeout_seconds);
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

Expected<InstanceConfig> ParseInstanceConfig(std::string_view text) {
  try {
    json::monotonic_resource resource;
    auto parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    // The same rules as START_INSTANCE's config: wrap it and validate the payload.
    json::object wrapped;
    wrapped["config"] = *parsed;
    auto payload = DecodeStart(json::serialize(wrapped));
    if (!payload) return Fail(std::move(payload.error()));
    if (!payload->config) return Fail(Errc::kInvalidPayload, "instance.json is empty");
    return std::move(*payload->config);
  } catch (const std::exception& e) {
    return Fail(DecodeFailure("instance.json", e));
  }
}

std::string InstanceConfigJson(const InstanceConfig& config) {
  json::object object;
  object["serverId"] = Str(config.server_id);
  json::array command;
  for (const auto& argument : config.command)
    command.push_back(Str(argument));
  object["command"] = std::move(command);
  object["env"] = codec_detail::Encode(config.env);
  if (config.stop_command) object["stopCommand"] = Str(*config.stop_command);
  object["stopSignal"] = Str(config.stop_signal);
  object["stopTimeoutSeconds"] = config.stop_timeout_seconds;
  if (config.ready_pattern) object["readyPattern"] = Str(*config.ready_pattern);
  object["readyTimeoutSeconds"] = config.ready_timeout_seconds;
  return json::serialize(object);
}

std::string_view ToString(InstanceState state) {
  switch (state) {
    case InstanceState::kStarting: return "starting";
    case InstanceState::kRunning: return "running";
    case InstanceState::kStopping: return "stopping";
    case InstanceState::kStopped: return "stopped";
  }
  return "stopped";
}

std::string InstanceRuntimeJson(const InstanceRuntime& runtime) {
  json::object object;
  object["state"] = Str(ToString(runtime.state));
  object["pid"] = runtime.pid ? json::value(*runtime.pid) : json::value(nullptr);
  object["startTime"] =
      runtime.start_time ? json::value(*runtime.start_time) : json::value(nullptr);
  object["unit"] = codec_detail::Nullable(runtime.unit);
  object["runId"] = codec_detail::Nullable(runtime.run_id);
  object["buildId"] = codec_detail::Nullable(runtime.build_id);
  object["startedAt"] = codec_detail::NullableTime(runtime.started_at);
  object["lastExit"] = runtime.last_exit ? EncodeExit(*runtime.last_exit) : json::value(nullptr);
  return json::serialize(object);
}

Expected<InstanceRuntime> ParseInstanceRuntime(std::string_view text) {
  try {
    json::monotonic_resource resource;
    auto parsed = codec_detail::ParseJson(text, &resource);
    if (!parsed) return Fail(std::move(parsed.error()));
    Decoder decoder(false);
    const json::object* object = codec_detail::AsObject(decoder, "", *parsed);
    if (object == nullptr) return Fail(decoder.ToError());
    ObjectReader r(decoder, "", *object);
    InstanceRuntime runtime;
    std::string state;
    if (r.Required("state", state)) {
      if (state == "starting") {
        runtime.state = InstanceState::kStarting;
      } else if (state == "running") {
        runtime.state = InstanceState::kRunning;
      } else if (state == "stopping") {
        runtime.state = InstanceState::kStopping;
      } else if (state == "stopped") {
        runtime.state = InstanceState::kStopped;
      } else {
        decoder.Problem("state", "must be one of starting, running, stopping, stopped");
      }
    }
    r.Optional("pid", runtime.pid);
    r.Optional("startTime", runtime.start_time);
    r.Optional("unit", runtime.unit);
    r.Optional("runId", runtime.run_id);
    r.Optional("buildId", runtime.build_id);
    r.Optional("startedAt", runtime.started_at);
    if (const json::value* exit = r.Find("lastExit")) {
      InstanceExit last;
      if (ReadExit(decoder, "lastExit", *exit, last)) runtime.last_exit = std::move(last);
    }
    if (runtime.pid.has_value() != runtime.start_time.has_value()) {
      decoder.Problem("startTime", "pid and startTime go together");
    }
    if (runtime.unit && !runtime.pid && runtime.state != InstanceState::kStarting) {
      decoder.Problem("unit", "a unit goes with a pid (or with state \"starting\")");
    }
    if (decoder.problem_count() > 0) return Fail(decoder.ToError());
    return runtime;
  } catch (const std::exception& e) {
    return Fail(DecodeFailure("runtime.json", e));
  }
}

std::string StartInstanceResultJson(const StartInstanceResult& result) {
  return json::serialize(EncodeStart(result));
}

std::string StopInstanceResultJson(const StopInstanceResult& result) {
  json::object object = EncodeStop(result);
  object["instanceId"] = Str(result.instance_id);
  return json::serialize(object);
}

std::string RestartInstanceResultJson(const StopInstanceResult& stop,
                                      const StartInstanceResult& start) {
  json::object object = EncodeStart(start);
  object["stop"] = EncodeStop(stop);
  return json::serialize(object);
}

}  // namespace orb::protocol
