#pragma once

// Parsing of repeatable, comma-separated flags (enqueue --depends-on, rollout create --phases).
// Thread-safety: pure.

#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace orb::cli {

// The items of every value, split at commas, in order ("a,b" and "c" give a, b, c). An empty
// item ("a,", "a,,b", ",") is a typo, not nothing: kInvalidRequest "<flag>: an empty <item> in
// "<value>"". Split here rather than by CLI11's delimiter, which drops an empty last item.
Expected<std::vector<std::string>> SplitListFlag(const std::vector<std::string>& values,
                                                 std::string_view flag, std::string_view item);

}  // namespace orb::cli
