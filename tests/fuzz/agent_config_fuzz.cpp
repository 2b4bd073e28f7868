// orb-jobs-agent's TOML configuration (agent/config.hpp): any text is applied and validated
// without crashing; a config that validates is valid again after the same text is applied twice.

#include "agent/config.hpp"
#include "fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = orb::fuzz::AsText(data, size);
  orb::agent::AgentConfig config;
  if (!orb::agent::ApplyToml(text, "fuzz.toml", config)) return 0;
  if (!orb::agent::Validate(config)) return 0;
  orb::agent::AgentConfig twice = config;
  ORB_FUZZ_CHECK(orb::agent::ApplyToml(text, "fuzz.toml", twice).has_value());
  ORB_FUZZ_CHECK(orb::agent::Validate(twice).has_value());
  return 0;
}
