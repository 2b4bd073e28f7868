#pragma once

// What the store prunes (docs/decisions/0018): finished jobs with their runs, log lines, events
// and idempotency keys; idempotency keys and events by age; and which artifacts unfinished jobs
// still name. Written once over the database seam; both stores run these. Each write handles at
// most the `limit` rows it is given, so a pass is many short transactions, never one long one.
// Internal to src/store.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"
#include "store/ops/context.hpp"

namespace orb::store::ops {

// ---- jobs ----

struct PrunableJob {
  std::string id;
  std::string agent_id;
};
// Up to `limit` jobs that PruneJobs may delete, oldest id first (a read: the write declares their
// agents, then checks each again under the lock).
std::vector<PrunableJob> PrunableJobs(sql::Connection& db, WallTime finished_before, int limit);
// Deletes those of `jobs` that are still prunable and whose agent the batch locked, with their
// runs, log lines, events and idempotency keys. Value: how many jobs.
Expected<std::int64_t> PruneJobs(WriteContext& ctx, const std::vector<PrunableJob>& jobs,
                                 WallTime finished_before);

// The first 13 characters of the UUIDv7 ids generated at `time` ("tttttttt-tttt": 48 bits of
// Unix milliseconds in lower-case hex): every id generated before `time` sorts below it.
std::string UuidV7Prefix(WallTime time);

// ---- idempotency keys, events ----

Expected<std::int64_t> PruneIdempotencyKeys(WriteContext& ctx, WallTime created_before, int limit);

struct PrunedEvents {
  std::int64_t deleted = 0;
  std::int64_t through = 0;  // the highest seq deleted (0: none)
};
// Deletes the oldest events (at most `limit`) up to the first whose timestamp is not before
// `before`: the kept events stay the newest ones, without a hole.
Expected<PrunedEvents> PruneEventsBefore(WriteContext& ctx, WallTime before, int limit);

// ---- artifacts ----

// Every run of exactly 64 lower-case hex digits in `text` (a payload's JSON), in order, repeats
// included: the sha256s it may name, as a `sha256` field or in a /v1/artifacts/<sha256> URL.
std::vector<std::string> Sha256sIn(std::string_view text);

struct ArtifactReferences {
  std::map<std::string, int> jobs;            // sha256 -> unfinished jobs naming it
  std::map<std::string, std::string> sample;  // sha256 -> one of those jobs
};
// What the payloads of the unfinished jobs (CREATED, QUEUED, RUNNING) name.
ArtifactReferences UnfinishedArtifactReferences(sql::Connection& db);

}  // namespace orb::store::ops
