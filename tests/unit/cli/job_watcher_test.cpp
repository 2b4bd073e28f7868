#include "cli/job_watcher.hpp"

#include <gtest/gtest.h>

namespace orb::cli {
namespace {

using protocol::Event;
using protocol::EventType;

protocol::JobDetail RunningJob() {
  protocol::JobDetail detail;
  detail.job.id = "j-1";
  detail.job.type = "BACKUP_INSTANCE";
  detail.job.agent_id = "host-1";
  detail.job.instance_id = "mc-1";
  detail.job.status = protocol::JobStatus::kRunning;
  protocol::Run run;
  run.id = "r-1";
  run.percent = 30;
  run.message = "archiving";
  detail.runs.push_back(run);
  return detail;
}

Event MakeEvent(EventType type, std::optional<std::string> status) {
  Event event;
  event.type = type;
  event.job_id = "j-1";
  event.status = std::move(status);
  return event;
}

TEST(ViewOfTest, TakesPercentAndMessageFromTheLatestRun) {
  const auto view = ViewOf(RunningJob());
  EXPECT_EQ(view.id, "j-1");
  EXPECT_EQ(view.target, "mc-1");
  EXPECT_EQ(view.status, "RUNNING");
  EXPECT_EQ(view.percent, 30);
  EXPECT_EQ(view.message, "archiving");
}

TEST(ViewOfTest, ShowsTheErrorOfAFailedJob) {
  auto detail = RunningJob();
  detail.job.status = protocol::JobStatus::kFailed;
  detail.job.last_error = protocol::RunError{"checksum_mismatch", "bad sha", {}, false};
  const auto view = ViewOf(detail);
  EXPECT_EQ(view.status, "FAILED");
  EXPECT_EQ(view.message, "checksum_mismatch: bad sha");
}

TEST(ApplyEventTest, MovesProgressOnAndKeepsTheMessageOfAProgressEventWithoutOne) {
  auto view = ViewOf(RunningJob());
  auto progress = MakeEvent(EventType::kJobProgress, "RUNNING");
  progress.percent = 55;
  ApplyEvent(view, progress);
  EXPECT_EQ(view.percent, 55);
  EXPECT_EQ(view.message, "archiving");
  progress.percent = 60;
  progress.message = "1.2 GiB of 2 GiB";
  ApplyEvent(view, progress);
  EXPECT_EQ(view.percent, 60);
  EXPECT_EQ(view.message, "1.2 GiB of 2 GiB");
}

TEST(ApplyEventTest, ANewRunStartsWithAnUnknownPercent) {
  auto view = ViewOf(RunningJob());
  ApplyEvent(view, MakeEvent(EventType::kJobRetried, "QUEUED"));
  EXPECT_EQ(view.status, "QUEUED");
  EXPECT_FALSE(view.percent.has_value());
}

TEST(ApplyEventTest, ACompletedJobShowsAFullBarAndAFailedOneItsError) {
  auto view = ViewOf(RunningJob());
  ApplyEvent(view, MakeEvent(EventType::kJobCompleted, "COMPLETED"));
  EXPECT_EQ(view.status, "COMPLETED");
  EXPECT_EQ(view.percent, 100);

  auto failed_view = ViewOf(RunningJob());
  auto failed = MakeEvent(EventType::kJobFailed, "FAILED");
  failed.error = protocol::RunError{"timeout", "took too long", {}, true};
  ApplyEvent(failed_view, failed);
  EXPECT_EQ(failed_view.status, "FAILED");
  EXPECT_EQ(failed_view.message, "timeout: took too long");
}

TEST(EndsJobTest, OnlyFinalEventsEndAJob) {
  EXPECT_TRUE(EndsJob(EventType::kJobCompleted));
  EXPECT_TRUE(EndsJob(EventType::kJobFailed));
  EXPECT_TRUE(EndsJob(EventType::kJobCancelled));
  EXPECT_FALSE(EndsJob(EventType::kJobCancelRequested));
  EXPECT_FALSE(EndsJob(EventType::kJobProgress));
  EXPECT_FALSE(EndsJob(EventType::kJobRetried));
}

TEST(RenderJobLineTest, ShowsIdTypeTargetBarStatusAndMessage) {
  const auto line = RenderJobLine(ViewOf(RunningJob()));
  EXPECT_EQ(line.rfind("j-1  BACKUP_INSTANCE mc-1  [", 0), 0U) << line;
  EXPECT_NE(line.find(" 30%  RUNNING  archiving"), std::string::npos) << line;
}

TEST(RenderEventLineTest, ShowsTimestampJobTypeStatusPercentAndMessage) {
  auto event = MakeEvent(EventType::kJobProgress, "RUNNING");
  event.timestamp = FromUnixMillis(0);
  event.percent = 42;
  event.message = "copying";
  EXPECT_EQ(RenderEventLine(event),
            "1970-01-01T00:00:00.000Z  j-1  job.progress  RUNNING  42%  copying");
}

}  // namespace
}  // namespace orb::cli
