// A schedule fired by fleet-cmdr's clock, its chains run by real agents (agent::Agent in process,
// with handlers defined here) against a real fleet-cmdr: the steps run in order on each host, and
// a failing step cancels the rest of that host's chain with dependency_failed (docs/protocol.md
// section 5 "Schedules", docs/decisions/0022).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/agent/agent_cluster.hpp"
#include "protocol/schedules.hpp"

namespace orb::testing {
namespace {

using std::chrono::seconds;

// Completes at once, or fails (not retryable) when `fail` is set.
class QuickHandler final : public jobs::JobHandler {
 public:
  QuickHandler(std::string type, bool fail) : type_(std::move(type)), fail_(fail) {}
  std::string_view type() const override { return type_; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    context.LogLine("info", "step " + type_);
    if (fail_) return Fail(MakeError(Errc::kInternal, "the disk is full"));
    return std::string(R"({"ok":true})");
  }

 private:
  std::string type_;
  bool fail_;
};

std::vector<std::unique_ptr<jobs::JobHandler>> Handlers(bool backup_fails) {
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::make_unique<QuickHandler>("BACKUP_INSTANCE", backup_fails));
  handlers.push_back(std::make_unique<QuickHandler>("RESTART_INSTANCE", false));
  return handlers;
}

TEST(ScheduleAgentsTest, TheClocksChainsRunOnTheAgentsAndAFailedStepCancelsTheRest) {
  AgentCluster cluster;
  cluster.StartAgent("ok-host", Handlers(false));
  cluster.StartAgent("bad-host", Handlers(true));
  auto [status, body] =
      cluster.Admin("POST", "/v1/schedules",
                    R"({"name":"backup then restart","cron":"*/2 * * * * *",)"
                    R"("target":{"agentIds":["ok-host","bad-host"]},"steps":[)"
                    R"({"type":"BACKUP_INSTANCE","instanceId":"main","payload":{}},)"
                    R"({"type":"RESTART_INSTANCE","instanceId":"main","payload":{}}]})");
  ASSERT_EQ(status, 201) << body;
  auto schedule = protocol::ParseSchedule(body);
  ASSERT_TRUE(schedule);

  // The first fire's jobs by host and type, once all four have ended.
  std::map<std::string, protocol::Job> first;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto [code, text] = cluster.Admin("GET", "/v1/jobs?limit=500&scheduleId=" + schedule->id);
        auto list = protocol::FromJson<protocol::JobList>(text);
        if (code != 200 || !list || list->jobs.empty()) return false;
        WallTime earliest = *list->jobs.front().fire_time;
        for (const auto& job : list->jobs)
          earliest = std::min(earliest, *job.fire_time);
        first.clear();
        for (const auto& job : list->jobs) {
          if (*job.fire_time == earliest) first[job.agent_id + "/" + job.type] = job;
        }
        if (first.size() != 4) return false;
        for (const auto& [key, job] : first) {
          if (job.status != protocol::JobStatus::kCompleted &&
              job.status != protocol::JobStatus::kFailed &&
              job.status != protocol::JobStatus::kCancelled) {
            return false;
          }
        }
        return true;
      },
      seconds(20)));
  EXPECT_EQ(first["ok-host/BACKUP_INSTANCE"].status, protocol::JobStatus::kCompleted);
  EXPECT_EQ(first["ok-host/RESTART_INSTANCE"].status, protocol::JobStatus::kCompleted);
  EXPECT_EQ(first["bad-host/BACKUP_INSTANCE"].status, protocol::JobStatus::kFailed);
  const protocol::Job& cancelled = first["bad-host/RESTART_INSTANCE"];
  EXPECT_EQ(cancelled.status, protocol::JobStatus::kCancelled);
  ASSERT_TRUE(cancelled.last_error);
  EXPECT_EQ(cancelled.last_error->code, "dependency_failed");
  EXPECT_EQ(cancelled.depends_on, std::vector<std::string>{first["bad-host/BACKUP_INSTANCE"].id});
  // The restart ran after the backup on the healthy host: it depended on it.
  EXPECT_EQ(first["ok-host/RESTART_INSTANCE"].depends_on,
            std::vector<std::string>{first["ok-host/BACKUP_INSTANCE"].id});
  EXPECT_EQ(cluster.Admin("PATCH", "/v1/schedules/" + schedule->id, R"({"enabled":false})").first,
            200);
}

}  // namespace
}  // namespace orb::testing
