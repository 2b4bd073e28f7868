#pragma once

// The dispatch rule of protocol.md §3 as pure functions: which of an agent's QUEUED jobs, if any,
// fleet-cmdr hands out on JobRequestNext. No store, no clock, no I/O: the server loads the
// agent's queued and running jobs, calls SortForDispatch (or lets the store sort), then PickNext,
// and makes the hand-out atomic itself (protocol.md §3 "Handing out is atomic").
//
// Thread-safety: stateless; safe to call from any thread. Errors: none (every input is valid).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/locks.hpp"

namespace orb::protocol {

// A QUEUED job of the asking agent, with the locks of its type (job-types.md §3).
struct DispatchCandidate {
  std::string job_id;
  std::string type;
  int priority = 0;               // -100..100, higher first
  std::int64_t queued_at_ms = 0;  // when it last became QUEUED, Unix milliseconds
  LockSet locks;
  bool exclusive = false;  // job.exclusive: runs alone on its agent
};

// A job with a RUNNING run on the asking agent.
struct RunningJob {
  std::string job_id;
  std::string type;
  LockSet locks;
  bool exclusive = false;
};

// What the agent declared in its `hello` (protocol.md §4).
struct AgentCapacity {
  int max_parallel = 1;
  std::vector<std::string> job_types;
};

// Sorts by (priority desc, queued_at_ms asc, job_id asc): the order of protocol.md §3.
void SortForDispatch(std::vector<DispatchCandidate>& queued);

// `queued` must be in dispatch order (it is taken as given, never re-sorted). Returns the index
// of the job to hand out, or nullopt. The first job J is picked such that:
//  1. fewer jobs run than agent.max_parallel (0 or less hands out nothing), and J's type is one
//     of agent.job_types;
//  2. J conflicts neither with a running job nor with ANY queued job ahead of J (a later job
//     never overtakes an earlier conflicting one);
//  3. an exclusive job conflicts with every other job, so an exclusive J starts only when
//     nothing runs and it is first in the queue, nothing starts next to a running exclusive job,
//     and a queued exclusive job blocks every job behind it.
// Locks conflict as in locks.hpp: exclusive with everything on the same key, shared only with
// exclusive. Whether queued[i] is picked depends only on queued[0..i], so a caller may pass the
// first N jobs of a long queue and, when nothing is picked, try again with more (the store does).
//
// Decision on rule 2: "any QUEUED job ahead of J" includes jobs ahead that are themselves not
// dispatchable, also those whose type this agent did not declare. Such a job keeps its place and
// keeps blocking the later jobs it conflicts with, until it is cancelled or the agent declares its
// type (e.g. after an agent upgrade). We choose ordering over progress because the spec states
// the no-overtaking guarantee without exception, and an overtaken job could act on state that
// was meant to come after it (a PRUNE_BACKUPS queued behind a BACKUP_INSTANCE).
std::optional<std::size_t> PickNext(std::span<const DispatchCandidate> queued,
                                    std::span<const RunningJob> running,
                                    const AgentCapacity& agent);

}  // namespace orb::protocol
