// The store contract: schedules (docs/protocol.md "Schedules", docs/decisions/0022): their rows,
// validation, a fire's chains and overlap rules, the timer's decisions, and exactly one fire per
// (schedule, fireTime) across restarts and instances.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

using protocol::JobTemplate;
using protocol::Schedule;
using protocol::ScheduleRequest;
using ::testing::Contains;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class StoreSchedulesTest : public StoreContractTest {
 protected:
  static JobTemplate Step(const std::string& type, const std::string& payload = "{}") {
    JobTemplate step;
    step.type = type;
    step.instance_id = "main";
    step.payload_json = payload;
    return step;
  }

  // Backup, verify, prune on the hosts labelled game=valheim, daily at 04:00 Berlin time.
  static ScheduleRequest Nightly() {
    ScheduleRequest request;
    request.name = "nightly backup";
    request.cron = "0 4 * * *";
    request.time_zone = "Europe/Berlin";
    request.target = protocol::HostTarget{protocol::Labels{{"game", "valheim"}}, {}};
    request.steps = std::vector<JobTemplate>{Step("BACKUP_INSTANCE"), Step("RESTART_INSTANCE"),
                                             Step("PRUNE_BACKUPS", R"({"keepLast":7})")};
    return request;
  }

  void Host(const std::string& agent_id) {
    Enroll(agent_id, {{"game", "valheim"}});
    Hello(agent_id, {"BACKUP_INSTANCE", "RESTART_INSTANCE", "PRUNE_BACKUPS"});
  }

  Schedule MustCreate(const ScheduleRequest& request) {
    auto created = store().CreateSchedule(request, Now());
    EXPECT_THAT(created, IsOk());
    return created ? created->value : Schedule{};
  }

  ScheduleFireResult MustFire(const std::string& schedule_id, WallTime at) {
    auto fired = store().FireSchedule(schedule_id, at, Now());
    EXPECT_THAT(fired, IsOk());
    return fired ? fired->value : ScheduleFireResult{};
  }

  // The jobs of `fired` on `agent_id`, in chain order.
  static std::vector<Job> On(const ScheduleFireResult& fired, const std::string& agent_id) {
    std::vector<Job> jobs;
    for (const Job& job : fired.jobs) {
      if (job.agent_id == agent_id) jobs.push_back(job);
    }
    return jobs;
  }

  std::string Start(const std::string& agent_id, const std::string& job_id) {
    auto next = Dispatch(agent_id);
    EXPECT_TRUE(next.has_value());
    if (!next) return "";
    EXPECT_EQ(next->execution.job_id, job_id);
    return next->run.id;
  }

  static std::vector<std::string> Fields(const Error& error) {
    std::vector<std::string> fields;
    for (const auto& problem : error.details)
      fields.push_back(problem.field);
    return fields;
  }
};

TEST_P(StoreSchedulesTest, CreateGetListUpdateAndDelete) {
  auto created = store().CreateSchedule(Nightly(), Now());
  ASSERT_THAT(created, IsOk());
  const Schedule schedule = created->value;
  EXPECT_EQ(schedule.name, "nightly backup");
  EXPECT_EQ(schedule.overlap, "skip");
  EXPECT_EQ(schedule.catch_up, "none");
  EXPECT_TRUE(schedule.enabled);
  ASSERT_THAT(schedule.steps, SizeIs(3));
  EXPECT_THAT(Types(created->events), ElementsAre(EventType::kScheduleCreated));
  EXPECT_EQ(created->events[0].schedule_id, schedule.id);

  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->steps, schedule.steps);
  EXPECT_EQ(got->target, schedule.target);
  // The next five 04:00 of Berlin (UTC+1 in November): 03:00Z on consecutive days.
  ASSERT_THAT(got->next_fires, SizeIs(5));
  EXPECT_GT(got->next_fires[0], Now());
  EXPECT_LE(got->next_fires[0], Now() + 24h);
  EXPECT_EQ(got->next_fires[1] - got->next_fires[0], 24h);
  EXPECT_EQ(FormatTimestamp(got->next_fires[0]).substr(11, 8), "03:00:00");
  EXPECT_THAT(got->last_fires, IsEmpty());

  const Schedule second = MustCreate(Nightly());
  auto page = store().ListSchedules(1, std::nullopt, Now());
  ASSERT_THAT(page, IsOk());
  ASSERT_THAT(page->schedules, SizeIs(1));
  EXPECT_EQ(page->schedules[0].id, schedule.id);
  ASSERT_TRUE(page->next_cursor);
  auto rest = store().ListSchedules(1, page->next_cursor, Now());
  ASSERT_THAT(rest, IsOk());
  ASSERT_THAT(rest->schedules, SizeIs(1));
  EXPECT_EQ(rest->schedules[0].id, second.id);
  EXPECT_FALSE(rest->next_cursor);
  EXPECT_THAT(store().ListSchedules(10, "nonsense", Now()), FailsWith(Errc::kInvalidRequest));

  ScheduleRequest patch;
  patch.name = "renamed";
  patch.enabled = false;
  auto updated = store().UpdateSchedule(schedule.id, patch, Now());
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->value.name, "renamed");
  EXPECT_FALSE(updated->value.enabled);
  EXPECT_EQ(updated->value.cron, "0 4 * * *");
  EXPECT_THAT(updated->value.next_fires, IsEmpty());  // disabled
  EXPECT_THAT(Types(updated->events), ElementsAre(EventType::kScheduleUpdated));

  auto deleted = store().DeleteSchedule(schedule.id, Now());
  ASSERT_THAT(deleted, IsOk());
  EXPECT_THAT(Types(deleted->events), ElementsAre(EventType::kScheduleDeleted));
  EXPECT_THAT(store().GetSchedule(schedule.id, Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().DeleteSchedule(schedule.id, Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().UpdateSchedule(schedule.id, patch, Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreSchedulesTest, BadInputNamesEveryFieldAndCreatesNothing) {
  ScheduleRequest bad = Nightly();
  bad.cron = "0 25 * * *";
  bad.time_zone = "Mars/Olympus";
  bad.overlap = "sometimes";
  bad.steps->push_back(Step("BACKUP_INSTANCE", R"({"mode":"sideways"})"));
  auto created = store().CreateSchedule(bad, Now());
  ASSERT_THAT(created, FailsWith(Errc::kInvalidRequest));
  const auto fields = Fields(created.error());
  EXPECT_THAT(fields, Contains("cron"));
  EXPECT_THAT(fields, Contains("timeZone"));
  EXPECT_THAT(fields, Contains("overlap"));
  EXPECT_THAT(fields, Contains("steps[3].payload.mode"));

  ScheduleRequest unknown_type = Nightly();
  (*unknown_type.steps)[1].type = "MAKE_COFFEE";
  auto typed = store().CreateSchedule(unknown_type, Now());
  ASSERT_FALSE(typed);
  EXPECT_THAT(Fields(typed.error()), Contains("steps[1].type"));

  auto none = store().ListSchedules(10, std::nullopt, Now());
  ASSERT_THAT(none, IsOk());
  EXPECT_THAT(none->schedules, IsEmpty());

  // A patch is validated on the result, and a rejected one changes nothing.
  const Schedule schedule = MustCreate(Nightly());
  ScheduleRequest patch;
  patch.time_zone = "Nowhere/Special";
  auto patched = store().UpdateSchedule(schedule.id, patch, Now());
  ASSERT_THAT(patched, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Fields(patched.error()), ElementsAre("timeZone"));
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->time_zone, "Europe/Berlin");
}

TEST_P(StoreSchedulesTest, AFireChainsTheStepsOnEveryHostOnceForItsFireTime) {
  Host("h1");
  Host("h2");
  Enroll("other", {{"game", "minecraft"}});
  const Schedule schedule = MustCreate(Nightly());
  const WallTime at = Now() + 1h;
  auto fired = store().FireSchedule(schedule.id, at, Now());
  ASSERT_THAT(fired, IsOk());
  EXPECT_FALSE(fired->value.existing);
  ASSERT_THAT(fired->value.jobs, SizeIs(6));
  for (const std::string host : {"h1", "h2"}) {
    const std::vector<Job> chain = On(fired->value, host);
    ASSERT_THAT(chain, SizeIs(3));
    EXPECT_EQ(chain[0].status, JobStatus::kQueued);
    EXPECT_EQ(chain[1].status, JobStatus::kCreated);
    EXPECT_THAT(chain[1].waiting_for, ElementsAre(chain[0].id));
    EXPECT_THAT(chain[2].depends_on, ElementsAre(chain[1].id));
    for (const Job& job : chain) {
      EXPECT_EQ(job.schedule_id, schedule.id);
      EXPECT_EQ(job.fire_time, at);
    }
    auto stored = store().GetJob(chain[2].id);
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ(stored->job.schedule_id, schedule.id);
    EXPECT_EQ(stored->job.fire_time, at);
    EXPECT_EQ(chain[2].type, "PRUNE_BACKUPS");
  }
  // schedule.fired last, with the jobs.
  ASSERT_FALSE(fired->events.empty());
  const protocol::Event& last = fired->events.back();
  EXPECT_EQ(last.type, EventType::kScheduleFired);
  EXPECT_EQ(last.schedule_id, schedule.id);
  EXPECT_EQ(last.fire_time, at);
  ASSERT_TRUE(last.job_ids);
  EXPECT_THAT(*last.job_ids, SizeIs(6));

  // The same fireTime again creates nothing.
  auto again = store().FireSchedule(schedule.id, at, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  EXPECT_THAT(again->value.jobs, IsEmpty());
  EXPECT_THAT(again->events, IsEmpty());

  JobFilter filter;
  filter.schedule_id = schedule.id;
  auto listed = store().ListJobs(filter, 100, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_THAT(listed->jobs, SizeIs(6));
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  ASSERT_THAT(got->last_fires, SizeIs(1));
  EXPECT_EQ(got->last_fires[0].fire_time, at);
  EXPECT_EQ(got->last_fires[0].job_count, 6);
  EXPECT_THAT(got->last_fires[0].job_ids, SizeIs(6));

  // The list carries each schedule's newest fire only; one never fired has none.
  const Schedule unfired = MustCreate(Nightly());
  auto next_day = store().FireSchedule(schedule.id, at + 24h, Now());
  ASSERT_THAT(next_day, IsOk());
  auto list = store().ListSchedules(10, std::nullopt, Now());
  ASSERT_THAT(list, IsOk());
  ASSERT_THAT(list->schedules, SizeIs(2));
  EXPECT_EQ(list->schedules[0].id, schedule.id);
  ASSERT_THAT(list->schedules[0].last_fires, SizeIs(1));
  EXPECT_EQ(list->schedules[0].last_fires[0].fire_time, at + 24h);
  EXPECT_EQ(list->schedules[0].last_fires[0].job_count,
            static_cast<int>(next_day->value.jobs.size()));
  EXPECT_EQ(list->schedules[1].id, unfired.id);
  EXPECT_THAT(list->schedules[1].last_fires, IsEmpty());

  EXPECT_THAT(store().FireSchedule("no-such-schedule", at, Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreSchedulesTest, AFailingStepCancelsTheRestOfThatHostsChainOnly) {
  Host("h1");
  Host("h2");
  const Schedule schedule = MustCreate(Nightly());
  const ScheduleFireResult fired = MustFire(schedule.id, Now());
  const std::vector<Job> h1 = On(fired, "h1");
  const std::vector<Job> h2 = On(fired, "h2");
  ASSERT_THAT(h1, SizeIs(3));
  ASSERT_THAT(h2, SizeIs(3));
  auto failed = Finish("h1", Start("h1", h1[0].id), RunStatus::kFailed,
                       protocol::RunError{"boom", "it broke", {}, false});
  ASSERT_THAT(failed, IsOk());
  for (const std::string& id : {h1[1].id, h1[2].id}) {
    auto job = store().GetJob(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->job.status, JobStatus::kCancelled);
    ASSERT_TRUE(job->job.last_error);
    EXPECT_EQ(job->job.last_error->code, "dependency_failed");
  }
  EXPECT_EQ(StatusOf(h2[0].id), JobStatus::kQueued);
  EXPECT_EQ(StatusOf(h2[1].id), JobStatus::kCreated);
}

TEST_P(StoreSchedulesTest, OverlapSkipGivesAHostWithAnUnfinishedChainNothing) {
  Host("h1");
  Host("h2");
  const Schedule schedule = MustCreate(Nightly());
  const ScheduleFireResult first = MustFire(schedule.id, Now());
  // h2's chain ends (its first step cancelled: the rest follows); h1's is still running.
  const std::vector<Job> h2 = On(first, "h2");
  ASSERT_THAT(h2, SizeIs(3));
  ASSERT_THAT(store().CancelJob(h2[0].id, Now()), IsOk());
  ASSERT_EQ(StatusOf(h2[2].id), JobStatus::kCancelled);

  const ScheduleFireResult second = MustFire(schedule.id, Now() + 1min);
  EXPECT_THAT(On(second, "h1"), IsEmpty());
  EXPECT_THAT(On(second, "h2"), SizeIs(3));
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  ASSERT_THAT(got->last_fires, SizeIs(2));
  EXPECT_EQ(got->last_fires[0].job_count, 3);  // newest first
}

TEST_P(StoreSchedulesTest, OverlapQueueWaitsForAnyEndOfThePreviousChain) {
  Host("h1");
  ScheduleRequest request = Nightly();
  request.overlap = "queue";
  const Schedule schedule = MustCreate(request);
  const std::vector<Job> first = On(MustFire(schedule.id, Now()), "h1");
  const std::vector<Job> second = On(MustFire(schedule.id, Now() + 1min), "h1");
  ASSERT_THAT(first, SizeIs(3));
  ASSERT_THAT(second, SizeIs(3));
  EXPECT_EQ(second[0].status, JobStatus::kCreated);
  EXPECT_THAT(second[0].waiting_for, ElementsAre(first[2].id));
  // The previous chain fails at its first step: its rest is cancelled, and the new chain starts.
  auto failed = Finish("h1", Start("h1", first[0].id), RunStatus::kFailed,
                       protocol::RunError{"boom", "it broke", {}, false});
  ASSERT_THAT(failed, IsOk());
  EXPECT_EQ(StatusOf(first[2].id), JobStatus::kCancelled);
  EXPECT_EQ(StatusOf(second[0].id), JobStatus::kQueued);
  EXPECT_EQ(StatusOf(second[1].id), JobStatus::kCreated);
  EXPECT_THAT(Types(failed->events), Contains(EventType::kJobQueued));
  // Once that chain has ended, a third fire does not wait at all.
  ASSERT_THAT(Finish("h1", Start("h1", second[0].id), RunStatus::kCompleted), IsOk());
  ASSERT_THAT(Finish("h1", Start("h1", second[1].id), RunStatus::kCompleted), IsOk());
  ASSERT_THAT(Finish("h1", Start("h1", second[2].id), RunStatus::kCompleted), IsOk());
  const std::vector<Job> third = On(MustFire(schedule.id, Now() + 2min), "h1");
  ASSERT_THAT(third, SizeIs(3));
  EXPECT_EQ(third[0].status, JobStatus::kQueued);
  EXPECT_THAT(third[0].depends_on, IsEmpty());
}

TEST_P(StoreSchedulesTest, AFireWithNoHostIsRecordedWithNoJobs) {
  const Schedule schedule = MustCreate(Nightly());
  auto fired = store().FireSchedule(schedule.id, Now(), Now());
  ASSERT_THAT(fired, IsOk());
  EXPECT_THAT(fired->value.jobs, IsEmpty());
  EXPECT_THAT(Types(fired->events), ElementsAre(EventType::kScheduleFired));
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  ASSERT_THAT(got->last_fires, SizeIs(1));
  EXPECT_EQ(got->last_fires[0].job_count, 0);

  // Past the 100 fire records kept per schedule, the oldest go; the newest are listed.
  for (int i = 1; i <= 104; ++i)
    ASSERT_THAT(store().FireSchedule(schedule.id, Now() + std::chrono::seconds(i), Now()), IsOk());
  auto later = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(later, IsOk());
  ASSERT_THAT(later->last_fires, SizeIs(10));
  EXPECT_EQ(later->last_fires[0].fire_time, Now() + 104s);
  EXPECT_EQ(later->last_fires[9].fire_time, Now() + 95s);
}

TEST_P(StoreSchedulesTest, ALargeFireMakesEveryChainInBoundedBatches) {
  constexpr int kHosts = 100;
  for (int i = 0; i < kHosts; ++i)
    Enroll("host-" + std::to_string(i), {{"game", "valheim"}});
  const Schedule schedule = MustCreate(Nightly());
  auto fired = store().FireSchedule(schedule.id, Now(), Now());
  ASSERT_THAT(fired, IsOk());
  ASSERT_THAT(fired->value.jobs, SizeIs(kHosts * 3));
  std::set<std::string> hosts;
  for (const Job& job : fired->value.jobs)
    hosts.insert(job.agent_id);
  EXPECT_THAT(hosts, SizeIs(kHosts));
  // One schedule.fired, at the end, with jobIds cut at 100.
  const auto types = Types(fired->events);
  EXPECT_EQ(std::count(types.begin(), types.end(), EventType::kScheduleFired), 1);
  EXPECT_EQ(fired->events.back().type, EventType::kScheduleFired);
  EXPECT_THAT(*fired->events.back().job_ids, SizeIs(100));
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->last_fires[0].job_count, kHosts * 3);
  EXPECT_THAT(got->last_fires[0].job_ids, SizeIs(100));
}

TEST_P(StoreSchedulesTest, TheTimerFiresWhatIsDueOnceAcrossARestart) {
  Host("h1");
  ScheduleRequest request = Nightly();
  request.cron = "*/2 * * * * *";  // every two seconds
  request.steps = std::vector<JobTemplate>{Step("RESTART_INSTANCE")};
  const Schedule schedule = MustCreate(request);
  ASSERT_THAT(schedule.next_fires, SizeIs(5));
  const WallTime first = schedule.next_fires[0];

  // Before the first fire time: nothing, and the wake-up is that time.
  auto early = store().FireDueSchedules(first - 1ms, {});
  ASSERT_THAT(early, IsOk());
  EXPECT_THAT(early->value.fires, IsEmpty());
  EXPECT_EQ(early->value.next_wake, first);

  clock_.SetWall(first);
  auto tick = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(tick, IsOk());
  ASSERT_THAT(tick->value.fires, SizeIs(1));
  EXPECT_EQ(tick->value.fires[0].fire_time, first);
  EXPECT_THAT(tick->value.fires[0].jobs, SizeIs(1));
  EXPECT_EQ(tick->value.next_wake, first + 2s);

  // Asked again, and after a restart, the same instant fires nothing.
  auto repeat = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(repeat, IsOk());
  EXPECT_THAT(repeat->value.fires, IsEmpty());
  Reopen();
  auto restarted = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(restarted, IsOk());
  EXPECT_THAT(restarted->value.fires, IsEmpty());

  // Ten seconds later (within the grace): the earliest fire on time, then the next ones.
  clock_.Advance(10s);
  auto later = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(later, IsOk());
  ASSERT_FALSE(later->value.fires.empty());
  EXPECT_EQ(later->value.fires[0].fire_time, first + 2s);

  // An hour of downtime with catchUp "none": the missed fires are skipped, none runs.
  clock_.Advance(1h);
  auto missed = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(missed, IsOk());
  for (const auto& fire : missed->value.fires)
    EXPECT_GE(fire.fire_time, Now() - 60s);
  EXPECT_EQ(missed->value.skipped, 1);
}

TEST_P(StoreSchedulesTest, TheTimerHandsOnEachFiresEventsAsTheFireCommits) {
  Host("h1");
  Host("h2");
  ScheduleRequest request = Nightly();
  request.cron = "*/2 * * * * *";
  const Schedule a = MustCreate(request);
  const Schedule b = MustCreate(request);
  clock_.SetWall(a.next_fires[0]);
  std::vector<std::vector<protocol::Event>> handed;
  auto tick = store().FireDueSchedules(
      Now(), [&](std::vector<protocol::Event> events) { handed.push_back(std::move(events)); });
  ASSERT_THAT(tick, IsOk());
  ASSERT_THAT(tick->value.fires, SizeIs(2));
  EXPECT_THAT(tick->events, IsEmpty());  // all of them were handed on
  EXPECT_THAT(tick->touched_agents, ElementsAre("h1", "h2"));
  // One hand-off per fire, each ending with its schedule.fired, seqs increasing throughout.
  ASSERT_THAT(handed, SizeIs(2));
  std::int64_t seq = 0;
  std::vector<std::string> fired;
  for (const auto& events : handed) {
    ASSERT_FALSE(events.empty());
    for (const protocol::Event& event : events) {
      EXPECT_GT(event.seq, seq);
      seq = event.seq;
    }
    EXPECT_EQ(events.back().type, EventType::kScheduleFired);
    const std::string id = events.back().schedule_id.value_or("");
    fired.push_back(id);
    // The fire's job.created events came with it.
    const auto fire = std::find_if(tick->value.fires.begin(), tick->value.fires.end(),
                                   [&](const auto& f) { return f.schedule_id == id; });
    ASSERT_NE(fire, tick->value.fires.end());
    EXPECT_EQ(std::count_if(events.begin(), events.end(),
                            [](const auto& e) { return e.type == EventType::kJobCreated; }),
              static_cast<std::ptrdiff_t>(fire->jobs.size()));
  }
  EXPECT_THAT(tick->value.fires[0].jobs, SizeIs(6));  // 3 steps on 2 hosts
  EXPECT_THAT(fired, ::testing::UnorderedElementsAre(a.id, b.id));
}

TEST_P(StoreSchedulesTest, ADisabledScheduleIsNotFiredAndReEnablingDoesNotCatchUp) {
  Host("h1");
  ScheduleRequest request = Nightly();
  request.cron = "* * * * * *";
  request.catch_up = "latest";
  const Schedule schedule = MustCreate(request);
  ScheduleRequest off;
  off.enabled = false;
  ASSERT_THAT(store().UpdateSchedule(schedule.id, off, Now()), IsOk());
  clock_.Advance(5min);
  auto tick = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(tick, IsOk());
  EXPECT_THAT(tick->value.fires, IsEmpty());
  ScheduleRequest on;
  on.enabled = true;
  ASSERT_THAT(store().UpdateSchedule(schedule.id, on, Now()), IsOk());
  auto after = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->value.fires, IsEmpty());  // enabling made `now` the last considered instant
  clock_.Advance(1s);
  auto next = store().FireDueSchedules(Now(), {});
  ASSERT_THAT(next, IsOk());
  ASSERT_THAT(next->value.fires, SizeIs(1));
  EXPECT_EQ(next->value.fires[0].fire_time, Now());
}

// On the stores of which several instances share one home (one SQLite file has one fleet-cmdr).
class StoreSchedulesInstancesTest : public StoreSchedulesTest {};

TEST_P(StoreSchedulesInstancesTest, SeveralInstancesFireEachFireTimeOnce) {
  constexpr int kInstances = 3;
  for (int i = 0; i < 30; ++i)
    Enroll("host-" + std::to_string(i), {{"game", "valheim"}});
  ScheduleRequest request = Nightly();
  request.cron = "* * * * * *";
  request.overlap = "queue";  // every fire makes chains, whatever the previous ones do
  const Schedule schedule = MustCreate(request);
  std::vector<std::unique_ptr<IdGenerator>> ids;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kInstances; ++i) {
    ids.push_back(std::make_unique<IdGenerator>(clock_));
    StoreDeps deps;
    deps.ids = ids.back().get();
    auto opened = home_->Open(std::move(deps));
    ASSERT_THAT(opened, IsOk());
    stores.push_back(*std::move(opened));
  }
  clock_.Advance(3s);
  const WallTime now = Now();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      if (!stores[static_cast<std::size_t>(i)]->FireDueSchedules(now, {})) ++failures;
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(failures, 0);
  // Three fire times are due (within the grace): each fired once, 30 jobs each.
  JobFilter filter;
  filter.schedule_id = schedule.id;
  auto jobs = store().ListJobs(filter, 500, std::nullopt);
  ASSERT_THAT(jobs, IsOk());
  std::map<WallTime, std::multiset<std::string>> by_fire;
  for (const Job& job : jobs->jobs)
    by_fire[*job.fire_time].insert(job.agent_id + "/" + job.type);
  EXPECT_THAT(by_fire, SizeIs(3));
  for (const auto& [fire_time, hosts] : by_fire) {
    EXPECT_EQ(hosts.size(), 30u * 3u) << FormatTimestamp(fire_time);
    EXPECT_EQ(std::set<std::string>(hosts.begin(), hosts.end()).size(), hosts.size());
  }
  auto got = store().GetSchedule(schedule.id, Now());
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(got->last_fires, SizeIs(3));
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreSchedulesTest, ::testing::ValuesIn(StoreFactories()),
                         [](const auto& param_info) { return param_info.param.name; });
INSTANTIATE_TEST_SUITE_P(SeveralInstances, StoreSchedulesInstancesTest,
                         ::testing::ValuesIn(SeveralInstanceFactories()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace orb::store
