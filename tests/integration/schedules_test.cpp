// Schedules through a real fleet-cmdr over HTTP (docs/protocol.md "Schedules"): the routes, bad
// input, a schedule fired by the clock whose chains run on agents that speak the real agent API,
// a failing step cancelling the rest of its host's chain, and a restart that fires nothing twice.
// Runs on SQLite and, registered again, on PostgreSQL.

#include "protocol/schedules.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "integration/test_cluster.hpp"
#include "protocol/codec.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kTwoSteps =
    R"([{"type":"BACKUP_INSTANCE","instanceId":"main","payload":{}},)"
    R"({"type":"RESTART_INSTANCE","instanceId":"main","payload":{}}])";

std::string ScheduleBody(const std::string& cron, const std::string& extra = "") {
  return fmt::format(
      R"({{"name":"backup then restart","cron":"{}","target":{{"agentIds":["h1","h2"]}},)"
      R"("steps":{}{}}})",
      cron, kTwoSteps, extra);
}

std::vector<protocol::Job> ScheduleJobs(ApiClient& api, const std::string& schedule_id) {
  auto reply = api.Get("/v1/jobs?limit=500&scheduleId=" + schedule_id);
  EXPECT_EQ(reply.status, 200) << reply.body;
  auto list = protocol::FromJson<protocol::JobList>(reply.body);
  return list ? list->jobs : std::vector<protocol::Job>{};
}

class SchedulesTest : public ::testing::Test {
 protected:
  protocol::Schedule Create(const std::string& body) {
    auto reply = cluster_.admin().Post("/v1/schedules", body);
    EXPECT_EQ(reply.status, 201) << reply.body;
    auto schedule = protocol::ParseSchedule(reply.body);
    EXPECT_TRUE(schedule) << reply.body;
    return schedule ? *schedule : protocol::Schedule{};
  }

  // Every fire time of the schedule's jobs with, per host, the job types it got.
  std::map<WallTime, std::map<std::string, std::multiset<std::string>>> ByFire(
      const std::string& schedule_id) {
    std::map<WallTime, std::map<std::string, std::multiset<std::string>>> fires;
    for (const auto& job : ScheduleJobs(cluster_.admin(), schedule_id)) {
      EXPECT_TRUE(job.fire_time);
      if (job.fire_time) fires[*job.fire_time][job.agent_id].insert(job.type);
    }
    return fires;
  }

  TestCluster cluster_;
};

TEST_F(SchedulesTest, RoutesAnswerAndBadInputCreatesNothing) {
  auto& admin = cluster_.admin();
  struct Bad {
    std::string body;
    std::string field;
  };
  const std::vector<Bad> bad = {
      {ScheduleBody("0 4 * * *", R"(,"colour":"red")"), "colour"},
      {ScheduleBody("0 25 * * *"), "cron"},
      {ScheduleBody("0 4 * * *", R"(,"timeZone":"Mars/Olympus")"), "timeZone"},
      {ScheduleBody("0 4 * * *", R"(,"overlap":"sometimes")"), "overlap"},
      {R"({"name":"x","cron":"0 4 * * *","target":{"agentIds":["h1"]},"steps":[]})", "steps"},
      {R"({"name":"x","cron":"0 4 * * *","target":{"agentIds":["h1"]},)"
       R"("steps":[{"type":"BACKUP_INSTANCE","payload":{}}]})",
       "steps[0].instanceId"},
      {R"({"cron":"0 4 * * *","target":{"agentIds":["h1"]},"steps":[]})", "name"},
  };
  for (const Bad& request : bad) {
    auto reply = admin.Post("/v1/schedules", request.body);
    EXPECT_EQ(reply.status, 400) << request.body;
    EXPECT_EQ(reply.error_code, "invalid_request") << reply.body;
    EXPECT_NE(reply.body.find("\"" + request.field + "\""), std::string::npos)
        << request.field << " in " << reply.body;
  }
  auto none = protocol::ParseScheduleList(admin.Get("/v1/schedules").body);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->schedules.empty());

  const protocol::Schedule schedule =
      Create(ScheduleBody("0 4 * * *", R"(,"timeZone":"Europe/Berlin")"));
  EXPECT_EQ(schedule.next_fires.size(), 5u);
  auto got = admin.Get("/v1/schedules/" + schedule.id);
  EXPECT_EQ(got.status, 200);
  auto patched = admin.Call("PATCH", "/v1/schedules/" + schedule.id, R"({"name":"renamed"})");
  EXPECT_EQ(patched.status, 200) << patched.body;
  auto bad_patch = admin.Call("PATCH", "/v1/schedules/" + schedule.id, R"({"cron":"61 * * * *"})");
  EXPECT_EQ(bad_patch.status, 400);
  auto after = protocol::ParseSchedule(admin.Get("/v1/schedules/" + schedule.id).body);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->name, "renamed");
  EXPECT_EQ(after->cron, "0 4 * * *");

  // A viewer reads, and may not change.
  ApiClient viewer(cluster_.port(), cluster_.CreateToken("viewer"));
  EXPECT_EQ(viewer.Get("/v1/schedules/" + schedule.id).status, 200);
  EXPECT_EQ(viewer.Post("/v1/schedules/" + schedule.id + "/fire").status, 403);

  // Fire now: no agent enrolled yet, so a fire with no jobs.
  auto fired = admin.Post("/v1/schedules/" + schedule.id + "/fire");
  EXPECT_EQ(fired.status, 201) << fired.body;
  auto body = protocol::ParseScheduleFired(fired.body);
  ASSERT_TRUE(body) << fired.body;
  EXPECT_TRUE(body->jobs.empty());

  EXPECT_EQ(admin.Call("DELETE", "/v1/schedules/" + schedule.id).status, 204);
  EXPECT_EQ(admin.Get("/v1/schedules/" + schedule.id).status, 404);
}

TEST_F(SchedulesTest, FireNowAnswersTheJobsCreated) {
  cluster_.StartAgent("h1", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  cluster_.StartAgent("h2", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  const protocol::Schedule schedule = Create(ScheduleBody("0 4 * * *"));
  auto fired = cluster_.admin().Post("/v1/schedules/" + schedule.id + "/fire");
  ASSERT_EQ(fired.status, 201) << fired.body;
  auto body = protocol::ParseScheduleFired(fired.body);
  ASSERT_TRUE(body);
  ASSERT_EQ(body->jobs.size(), 4u);
  for (const auto& job : body->jobs) {
    EXPECT_EQ(job.schedule_id, schedule.id);
    EXPECT_EQ(job.fire_time, body->fire_time);
  }
  EXPECT_EQ(ScheduleJobs(cluster_.admin(), schedule.id).size(), 4u);
  auto got = protocol::ParseSchedule(cluster_.admin().Get("/v1/schedules/" + schedule.id).body);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->last_fires.size(), 1u);
  EXPECT_EQ(got->last_fires[0].job_count, 4);
}

TEST_F(SchedulesTest, TheClockFiresChainsAndAFailingStepCancelsTheRestOfItsChain) {
  FakeAgent& h1 = cluster_.StartAgent("h1", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  FakeAgent& h2 = cluster_.StartAgent("h2", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  const protocol::Schedule schedule = Create(ScheduleBody("*/2 * * * * *"));
  // The first fire comes within two seconds; overlap "skip" then gives the hosts nothing more
  // while their chains run.
  ASSERT_TRUE(WaitFor([&] { return ScheduleJobs(cluster_.admin(), schedule.id).size() >= 4; },
                      seconds(10)));
  auto first = h1.NextJob();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, "BACKUP_INSTANCE");
  auto run_h2 = h2.NextJob();
  ASSERT_TRUE(run_h2);
  EXPECT_EQ(h1.Fail(first->run_id, false).status, 200);
  EXPECT_EQ(h2.Complete(run_h2->run_id).status, 200);
  // h1's restart is cancelled with dependency_failed; h2's is handed out.
  protocol::Job h1_restart;
  for (const auto& job : ScheduleJobs(cluster_.admin(), schedule.id)) {
    if (job.agent_id == "h1" && job.type == "RESTART_INSTANCE" && job.fire_time &&
        job.depends_on == std::vector<std::string>{first->job_id}) {
      h1_restart = job;
    }
  }
  ASSERT_FALSE(h1_restart.id.empty());
  const protocol::Job cancelled = cluster_.Job(h1_restart.id);
  EXPECT_EQ(cancelled.status, protocol::JobStatus::kCancelled);
  ASSERT_TRUE(cancelled.last_error);
  EXPECT_EQ(cancelled.last_error->code, "dependency_failed");
  auto second_h2 = h2.NextJob();
  ASSERT_TRUE(second_h2);
  EXPECT_EQ(second_h2->type, "RESTART_INSTANCE");
  // The schedule went on: h1's chain has ended, so a later fire gives it a new one.
  ASSERT_TRUE(WaitFor(
      [&] {
        int h1_backups = 0;
        for (const auto& job : ScheduleJobs(cluster_.admin(), schedule.id))
          h1_backups += job.agent_id == "h1" && job.type == "BACKUP_INSTANCE";
        return h1_backups >= 2;
      },
      seconds(10)));
  // Whatever fired, each fire time gave each host one chain at most.
  for (const auto& [fire_time, hosts] : ByFire(schedule.id)) {
    for (const auto& [host, types] : hosts) {
      EXPECT_EQ(types, (std::multiset<std::string>{"BACKUP_INSTANCE", "RESTART_INSTANCE"}))
          << host << " at " << FormatTimestamp(fire_time);
    }
  }
}

TEST_F(SchedulesTest, ARestartFiresNothingTwice) {
  cluster_.StartAgent("h1", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  cluster_.StartAgent("h2", {"BACKUP_INSTANCE", "RESTART_INSTANCE"});
  // overlap "queue": every fire makes chains, so every fire time is counted.
  const protocol::Schedule schedule = Create(ScheduleBody("* * * * * *", R"(,"overlap":"queue")"));
  ASSERT_TRUE(WaitFor([&] { return ByFire(schedule.id).size() >= 2; }, seconds(10)));
  cluster_.Restart();
  const std::size_t before = ByFire(schedule.id).size();
  ASSERT_TRUE(WaitFor([&] { return ByFire(schedule.id).size() >= before + 2; }, seconds(10)));
  auto disabled =
      cluster_.admin().Call("PATCH", "/v1/schedules/" + schedule.id, R"({"enabled":false})");
  EXPECT_EQ(disabled.status, 200);
  for (const auto& [fire_time, hosts] : ByFire(schedule.id)) {
    EXPECT_EQ(hosts.size(), 2u) << FormatTimestamp(fire_time);
    for (const auto& [host, types] : hosts) {
      EXPECT_EQ(types, (std::multiset<std::string>{"BACKUP_INSTANCE", "RESTART_INSTANCE"}))
          << host << " at " << FormatTimestamp(fire_time);
    }
  }
  auto got = protocol::ParseSchedule(cluster_.admin().Get("/v1/schedules/" + schedule.id).body);
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->last_fires.empty());
}

}  // namespace
}  // namespace orb::testing
