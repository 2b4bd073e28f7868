#include "jobs/job_handler.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/log.hpp"
#include "support/manual_clock.hpp"

namespace orb::jobs {
namespace {

class RecordingSink final : public RunSink {
 public:
  void Progress(std::optional<int> percent, std::string message, std::string step) override {
    percents.push_back(percent);
    messages.push_back(message + "/" + step);
  }
  void LogLine(std::string_view level, std::string message) override {
    lines.push_back(std::string(level) + ":" + message);
  }
  std::vector<std::optional<int>> percents;
  std::vector<std::string> messages;
  std::vector<std::string> lines;
};

// A context for /r with staging /r/s, recording into `sink`.
struct ContextParts {
  protocol::JobExecution execution;
  CancelToken token;
  RecordingSink sink;
  testing::ManualClock clock;
  HandlerContext context{execution, "/r", "/r/s", token, JobLog(GetLogger("test"), "j", "r"),
                         sink,      clock};
};

TEST(HandlerContextTest, ClampsPercentAndForwardsToTheSink) {
  protocol::JobExecution execution;
  execution.job_id = "j1";
  execution.run_id = "r1";
  CancelToken token;
  RecordingSink sink;
  testing::ManualClock clock;
  HandlerContext context(execution, "/root", "/root/.staging/r1", token,
                         JobLog(GetLogger("test"), "j1", "r1"), sink, clock);
  context.Progress(150, "almost", "copy");
  context.Progress(std::nullopt, "step only");
  context.LogLine("info", "hello");
  EXPECT_EQ(sink.percents, (std::vector<std::optional<int>>{100, std::nullopt}));
  EXPECT_EQ(sink.messages, (std::vector<std::string>{"almost/copy", "step only/"}));
  EXPECT_EQ(sink.lines, std::vector<std::string>{"info:hello"});
  EXPECT_EQ(context.staging_dir(), "/root/.staging/r1");
}

TEST(HandlerContextTest, CutsOverlongLogLines) {
  ContextParts parts;
  RecordingSink& sink = parts.sink;
  HandlerContext& context = parts.context;
  context.LogLine("warn", std::string(HandlerContext::kMaxLogLineBytes * 2, 'x'));
  ASSERT_EQ(sink.lines.size(), 1U);
  EXPECT_LT(sink.lines[0].size(), HandlerContext::kMaxLogLineBytes + 32);
}

// A backup reports against the total its walk has found so far; when the walk finds more, the
// percentage waits for the bytes to catch up instead of going back.
TEST(ByteProgressReporterTest, SendsEachPercentOnceAndNeverGoesBackwards) {
  ContextParts parts;
  RecordingSink& sink = parts.sink;
  HandlerContext& context = parts.context;
  ByteProgressReporter progress(context, 0, 100, "archive");
  progress(50, 100);
  progress(50, 100);   // the same percent: not sent again
  progress(60, 200);   // the total grew: 30 % would go back
  progress(150, 200);  // 75 %
  progress(200, 200);
  EXPECT_EQ(sink.percents, (std::vector<std::optional<int>>{50, 75, 100}));
  EXPECT_EQ(sink.messages.back(), "0 of 0 MiB/archive");
}

}  // namespace
}  // namespace orb::jobs
