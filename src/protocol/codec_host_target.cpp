// Codec of HostTarget (protocol/host_target.hpp) and of the label selector it shares with
// POST /v1/jobs.

#include <string>
#include <utility>

#include "protocol/codec_detail.hpp"
#include "protocol/host_target.hpp"

namespace orb::protocol {
namespace codec_detail {

void ReadSelector(Decoder& d, ObjectReader& r, std::optional<Labels>& out) {
  const json::value* value = r.Find("selector");
  if (value == nullptr) return;
  const std::string path = r.Path("selector");
  const json::object* selector = AsObject(d, path, *value);
  if (selector == nullptr) return;
  ObjectReader s(d, path, *selector);
  Labels labels;
  if (s.Required("labels", labels)) {
    if (labels.empty()) {
      d.Problem(s.Path("labels"), "must name at least one label");
    } else {
      out = std::move(labels);
    }
  }
  s.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, HostTarget& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  const bool has_selector = r.Find("selector") != nullptr;
  const bool has_agents = r.Find("agentIds") != nullptr;
  ReadSelector(d, r, out.selector);
  if (has_agents && r.Optional("agentIds", out.agent_ids)) {
    const std::string agents_path = r.Path("agentIds");
    if (out.agent_ids.empty()) d.Problem(agents_path, "must name at least one agent");
    if (out.agent_ids.size() > kMaxTargetAgentIds) {
      d.Problem(agents_path, "must name at most " + std::to_string(kMaxTargetAgentIds) + " agents");
    }
    for (std::size_t i = 0; i < out.agent_ids.size(); ++i)
      CheckName(d, ElementPath(agents_path, i), out.agent_ids[i]);
  }
  if (has_selector && has_agents) {
    d.Problem(r.Path("agentIds"), "must not be given together with selector");
  } else if (!has_selector && !has_agents) {
    d.Problem(r.Path("selector"), "is required (or agentIds)");
  }
  return r.Finish();
}

json::value Encode(const HostTarget& value) {
  json::object o;
  if (value.selector) {
    o.emplace("selector", json::object{{"labels", Encode(*value.selector)}});
  } else {
    o.emplace("agentIds", EncodeArray(value.agent_ids));
  }
  return o;
}

}  // namespace codec_detail

std::string ToJson(const HostTarget& target) {
  return boost::json::serialize(codec_detail::Encode(target));
}

Expected<HostTarget> ParseHostTarget(std::string_view text) {
  return codec_detail::DecodeText<HostTarget>(text, false);
}

}  // namespace orb::protocol
