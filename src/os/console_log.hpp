#pragma once

#include <cstdint>
#include <filesystem>

#include "common/expected.hpp"
#include "os/fs.hpp"

namespace orb::os {

// Rotation of an instance's console log (job-types.md §2 "captured ... (rotated)").
// The instance writes the log through its own O_APPEND descriptor, which we cannot reopen, so
// rotation is copytruncate: when the log is larger than `max_bytes`, shift <log>.1..<log>.(keep-1)
// up by one (dropping <log>.<keep>), copy the log to <log>.1 (through a temp name and a rename),
// then truncate the log to zero; the child's next O_APPEND write lands at the new end. Lines the
// child writes between the end of the copy and the truncation are lost (the usual copytruncate
// window, a few microseconds).
// Returns true when it rotated. Errors: Errc::kInvalidPayload for keep < 1; Fs errors (a failure
// leaves the live log untruncated, so nothing is lost but the rotation is retried next time).
// Thread-safety: one rotation per log at a time.
Expected<bool> RotateIfLarger(Fs& fs, const std::filesystem::path& log, std::uint64_t max_bytes,
                              int keep);

}  // namespace orb::os
