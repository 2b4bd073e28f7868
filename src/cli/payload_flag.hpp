#pragma once

// Reading a job payload flag (enqueue --payload, rollout create --payload).
// Thread-safety: reads stdin for "@-"; one thread.

#include <string>

#include "common/expected.hpp"

namespace orb::cli {

// A JSON object, @FILE or @- (stdin), as canonical JSON object text. kInvalidRequest (details:
// field "payload") when it is not a JSON object, kIo when the file cannot be read.
Expected<std::string> ReadPayload(const std::string& flag);

}  // namespace orb::cli
