#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace orb {

// Generates UUIDv7 ids (RFC 9562) for jobs, runs, batches and tokens: 48-bit Unix milliseconds,
// then a 12-bit sequence in rand_a and random bits in rand_b. Within one generator the ids are
// strictly increasing, also for many ids in one millisecond and if the wall clock steps back,
// so ids sort by creation time (protocol.md §1). Thread-safe.
class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock) : clock_(clock) {}

  std::string Next();

 private:
  const Clock& clock_;
  std::mutex mutex_;
  std::uint64_t last_millis_ = 0;
  std::uint32_t sequence_ = 0;
};

// True for the canonical lower-case 8-4-4-4-12 form of a version 7 UUID.
bool IsUuidV7(std::string_view text);

// True when `text` matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (protocol.md §1): agentId,
// instanceId, serverId, backupId, buildId. Such names are safe as file names.
bool IsValidName(std::string_view text);

}  // namespace orb
