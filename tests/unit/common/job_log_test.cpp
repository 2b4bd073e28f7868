#include "common/job_log.hpp"

#include <memory>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "common/log.hpp"

namespace orb {
namespace {

TEST(JobLogTest, EveryLineCarriesJobIdAndRunId) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%v");
  auto logger = std::make_shared<spdlog::logger>("job-log-test", sink);
  JobLog log(logger, "job-1", "run-9");
  log.Info("extracted {} files", 12);
  log.Warn("slow disk");
  EXPECT_EQ(out.str(),
            "jobId=job-1 runId=run-9 extracted 12 files\njobId=job-1 runId=run-9 slow disk\n");
}

TEST(JobLogTest, JsonEscapeKeepsLinesParseable) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
}

}  // namespace
}  // namespace orb
