#include "protocol/lifecycle.hpp"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::HasSubstr;

using S = JobStatus;
using E = JobEvent;

constexpr JobStatus kStatuses[] = {S::kCreated,   S::kQueued, S::kRunning,
                                   S::kCompleted, S::kFailed, S::kCancelled};
constexpr RunStatus kRunStatuses[] = {RunStatus::kRunning, RunStatus::kCompleted,
                                      RunStatus::kFailed, RunStatus::kCancelled};

// protocol.md §3 "Lifecycle", written out independently of lifecycle.cpp.
const std::map<std::pair<JobStatus, JobEvent>, JobStatus>& SpecTransitions() {
  static const std::map<std::pair<JobStatus, JobEvent>, JobStatus> spec = {
      {{S::kCreated, E::kPromote}, S::kQueued},
      {{S::kQueued, E::kDispatch}, S::kRunning},
      {{S::kRunning, E::kComplete}, S::kCompleted},
      {{S::kRunning, E::kFail}, S::kFailed},
      {{S::kRunning, E::kLeaseExpired}, S::kFailed},
      {{S::kRunning, E::kAgentRestarted}, S::kFailed},
      {{S::kRunning, E::kCancelRunning}, S::kCancelled},
      {{S::kRunning, E::kRequestCancel}, S::kRunning},
      {{S::kCreated, E::kCancelQueued}, S::kCancelled},
      {{S::kQueued, E::kCancelQueued}, S::kCancelled},
      {{S::kFailed, E::kAutoRetry}, S::kCreated},
      {{S::kFailed, E::kManualRetry}, S::kQueued},
      {{S::kCancelled, E::kManualRetry}, S::kQueued},
      {{S::kCreated, E::kDependencyFailed}, S::kCancelled},
      {{S::kRunning, E::kLostAfterCancel}, S::kCancelled},
  };
  return spec;
}

TEST(LifecycleTest, EveryStatusAndEventPairFollowsTheSpecTable) {
  int allowed = 0;
  for (const JobStatus from : kStatuses) {
    for (const JobEvent event : kAllJobEvents) {
      const auto result = Transition(from, event);
      const auto it = SpecTransitions().find({from, event});
      if (it == SpecTransitions().end()) {
        EXPECT_THAT(result, FailsWith(Errc::kInvalidState))
            << ToString(from) << " + " << ToString(event);
        EXPECT_EQ(FindTransition(from, event), nullptr);
      } else {
        ++allowed;
        ASSERT_THAT(result, IsOk()) << ToString(from) << " + " << ToString(event);
        EXPECT_EQ(*result, it->second) << ToString(from) << " + " << ToString(event);
      }
    }
  }
  EXPECT_EQ(allowed, static_cast<int>(SpecTransitions().size()));
  EXPECT_EQ(JobTransitions().size(), SpecTransitions().size());
}

TEST(LifecycleTest, EventListCoversEveryJobEvent) {
  ASSERT_EQ(std::size(kAllJobEvents), static_cast<std::size_t>(E::kLostAfterCancel) + 1);
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < std::size(kAllJobEvents); ++i) {
    EXPECT_EQ(kAllJobEvents[i], static_cast<JobEvent>(i));
    names.insert(ToString(kAllJobEvents[i]));
  }
  EXPECT_EQ(names.size(), std::size(kAllJobEvents));
  EXPECT_EQ(names.count("?"), 0u);
}

TEST(LifecycleTest, CompletedIsFinal) {
  for (const JobEvent event : kAllJobEvents) {
    EXPECT_THAT(Transition(S::kCompleted, event), FailsWith(Errc::kInvalidState))
        << ToString(event);
  }
  for (const auto& row : JobTransitions())
    EXPECT_NE(row.from, S::kCompleted);
}

TEST(LifecycleTest, TableHasOneRowPerPairAndPublishesAStateChange) {
  std::set<std::pair<JobStatus, JobEvent>> seen;
  for (const auto& row : JobTransitions()) {
    EXPECT_TRUE(seen.insert({row.from, row.event}).second)
        << ToString(row.from) << " + " << ToString(row.event);
    EXPECT_TRUE(IsStateChange(row.published)) << ToString(row.event);
    EXPECT_EQ(FindTransition(row.from, row.event), &row);
  }
}

TEST(LifecycleTest, EachEventPublishesTheMatchingStreamEvent) {
  const auto published = [](JobStatus from, JobEvent event) {
    const JobTransition* row = FindTransition(from, event);
    return row == nullptr ? std::string("none") : std::string(ToString(row->published));
  };
  EXPECT_EQ(published(S::kCreated, E::kPromote), "job.queued");
  EXPECT_EQ(published(S::kQueued, E::kDispatch), "job.running");
  EXPECT_EQ(published(S::kRunning, E::kComplete), "job.completed");
  EXPECT_EQ(published(S::kRunning, E::kLeaseExpired), "job.failed");
  EXPECT_EQ(published(S::kRunning, E::kRequestCancel), "job.cancel_requested");
  EXPECT_EQ(published(S::kQueued, E::kCancelQueued), "job.cancelled");
  EXPECT_EQ(published(S::kCancelled, E::kManualRetry), "job.retried");
  EXPECT_EQ(published(S::kCreated, E::kDependencyFailed), "job.cancelled");
  EXPECT_EQ(published(S::kQueued, E::kDependencyFailed), "none");  // a queued job's deps are done
}

TEST(LifecycleTest, EveryStatusIsReachableFromCreated) {
  std::set<JobStatus> reached = {S::kCreated};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& row : JobTransitions()) {
      if (reached.count(row.from) > 0 && reached.insert(row.to).second) grew = true;
    }
  }
  EXPECT_EQ(reached.size(), std::size(kStatuses));
}

TEST(LifecycleTest, RejectionNamesTheEventAndTheStatus) {
  const auto result = Transition(S::kRunning, E::kManualRetry);
  ASSERT_THAT(result, FailsWith(Errc::kInvalidState));
  EXPECT_THAT(result.error().message, HasSubstr("manual_retry"));
  EXPECT_THAT(result.error().message, HasSubstr("RUNNING"));
}

TEST(LifecycleTest, RunsOnlyGoFromRunningToAFinalStatus) {
  for (const RunStatus from : kRunStatuses) {
    for (const RunStatus to : kRunStatuses) {
      const auto result = TransitionRun(from, to);
      if (from == RunStatus::kRunning && to != RunStatus::kRunning) {
        ASSERT_THAT(result, IsOk());
        EXPECT_EQ(*result, to);
      } else {
        EXPECT_THAT(result, FailsWith(Errc::kInvalidState))
            << ToString(from) << " -> " << ToString(to);
      }
    }
  }
}

TEST(LifecycleTest, ARunsFinalStatusMapsToTheJobEvent) {
  EXPECT_EQ(JobEventForRunEnd(RunStatus::kCompleted).value(), E::kComplete);
  EXPECT_EQ(JobEventForRunEnd(RunStatus::kFailed).value(), E::kFail);
  EXPECT_EQ(JobEventForRunEnd(RunStatus::kCancelled).value(), E::kCancelRunning);
  EXPECT_THAT(JobEventForRunEnd(RunStatus::kRunning), FailsWith(Errc::kInvalidState));
  // The job event of a run's end always applies to a RUNNING job and lands on the same status.
  for (const RunStatus end : {RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kCancelled}) {
    const auto to = Transition(S::kRunning, JobEventForRunEnd(end).value());
    ASSERT_THAT(to, IsOk());
    EXPECT_EQ(ToString(*to), ToString(end));
  }
}

}  // namespace
}  // namespace orb::protocol
