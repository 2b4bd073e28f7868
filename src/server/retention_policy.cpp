#include "server/retention_policy.hpp"

namespace orb::server {
namespace {

std::optional<WallTime> Before(WallTime now, RetentionOptions::Age age) {
  if (age <= RetentionOptions::Age::zero()) return std::nullopt;
  return now - age;
}

}  // namespace

RetentionCutoffs DecideRetention(WallTime now, const RetentionOptions& options) {
  RetentionCutoffs cutoffs;
  cutoffs.jobs_finished_before = Before(now, options.job_age);
  cutoffs.events_before = cutoffs.jobs_finished_before;
  cutoffs.idempotency_keys_before = Before(now, options.idempotency_key_age);
  cutoffs.artifacts_created_before = Before(now, options.artifact_age);
  return cutoffs;
}

bool RetentionPassDue(Clock::MonoTime now, std::optional<Clock::MonoTime> last, bool more_left,
                      const RetentionOptions& options) {
  if (!last) return true;
  return now - *last >= (more_left ? options.again : options.every);
}

}  // namespace orb::server
