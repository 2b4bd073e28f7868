#pragma once

// Parsing of repeatable KEY=VALUE flags (enroll --label, enqueue --selector).
// Thread-safety: pure.

#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::cli {

// Each item "KEY=VALUE" (KEY non-empty) becomes labels[KEY] = VALUE; a later KEY wins.
// kInvalidRequest naming `flag` and the bad item otherwise.
Expected<protocol::Labels> ParseLabels(const std::vector<std::string>& items,
                                       const std::string& flag);

}  // namespace orb::cli
