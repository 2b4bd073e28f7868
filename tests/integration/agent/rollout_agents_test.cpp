// Rollouts (docs/protocol.md "Rollouts") over real agents (in process, test handlers) and a real
// fleet-cmdr: maxInFlight checked from the event stream, the abort threshold, pause and resume,
// and a fleet-cmdr restart in the middle of a rollout.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/time.hpp"
#include "integration/agent/agent_cluster.hpp"
#include "net/ws_client.hpp"
#include "protocol/rollout_codec.hpp"

namespace orb::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// VERIFY_BACKUP that works for `work` (or until `release` when gated), then completes, or fails
// when `fail`.
class RolloutHandler final : public jobs::JobHandler {
 public:
  RolloutHandler(bool fail, bool gated) : fail_(fail), gated_(gated) {}
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    ++started;
    const auto until = std::chrono::steady_clock::now() + milliseconds(40);
    while (gated_ ? !release.load() : std::chrono::steady_clock::now() < until) {
      if (context.cancel().WaitFor(milliseconds(5))) return Fail(context.cancel().ToError());
    }
    if (fail_) return Fail(Errc::kInternal, "verification failed");
    return std::string(R"({"ok":true})");
  }
  std::atomic<int> started{0};
  std::atomic<bool> release{false};

 private:
  bool fail_;
  bool gated_;
};

class RolloutAgentsTest : public ::testing::Test {
 protected:
  RolloutAgentsTest()
      : cluster_([](server::FleetCmdrOptions& options) { options.tick = milliseconds(20); }) {}

  // Agents h1..h<count>, each with its own handler.
  void StartAgents(int count, bool fail = false, bool gated = false) {
    for (int i = 1; i <= count; ++i) {
      auto handler = std::make_unique<RolloutHandler>(fail, gated);
      handlers_.push_back(handler.get());
      std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
      handlers.push_back(std::move(handler));
      cluster_.StartAgent("h" + std::to_string(i), std::move(handlers));
    }
  }

  std::string Create(const std::string& policy) {
    std::string agents;
    for (std::size_t i = 1; i <= handlers_.size(); ++i)
      agents += fmt::format("{}\"h{}\"", i == 1 ? "" : ",", i);
    const std::string body = fmt::format(
        R"({{"name":"verify","target":{{"agentIds":[{}]}},"job":{{"type":"VERIFY_BACKUP",)"
        R"("instanceId":"mc","payload":{{"backupId":"b1"}},"maxAttempts":1}},"policy":{}}})",
        agents, policy);
    auto [status, reply] = cluster_.Admin("POST", "/v1/rollouts", body);
    EXPECT_EQ(status, 201) << reply;
    auto rollout = protocol::ParseRollout(reply);
    return rollout ? rollout->id : "";
  }

  protocol::Rollout Get(const std::string& id) {
    auto [status, reply] = cluster_.Admin("GET", "/v1/rollouts/" + id);
    auto rollout = protocol::ParseRollout(reply);
    return status == 200 && rollout ? *rollout : protocol::Rollout{};
  }

  // Every event from the start of the stream up to the first of type `last` for `id`.
  std::vector<protocol::Event> Replay(const std::string& id, protocol::EventType last) {
    net::WebSocketOptions options;
    options.base_url = cluster_.url();
    net::WebSocketClient ws(options);
    std::vector<protocol::Event> events;
    if (!ws.Connect("/v1/stream")) {
      ADD_FAILURE() << "no stream";
      return events;
    }
    EXPECT_TRUE(ws.Send(
        fmt::format(R"({{"type":"subscribe","token":"{}","since":0}})", cluster_.admin_token())));
    for (;;) {
      auto text = ws.Receive(seconds(5));
      if (!text) {
        ADD_FAILURE() << "stream: " << text.error().Describe();
        return events;
      }
      auto message = protocol::ParseStreamMessage(*text);
      if (!message || !message->event) continue;
      events.push_back(*message->event);
      if (message->event->type == last && message->event->rollout_id == id) return events;
    }
  }

  AgentCluster cluster_;
  std::vector<RolloutHandler*> handlers_;
};

TEST_F(RolloutAgentsTest, EightHostsNeverMoreThanMaxInFlightUnfinished) {
  StartAgents(8);
  const std::string id = Create(R"({"maxInFlight":2})");
  ASSERT_TRUE(WaitFor([&] { return Get(id).status == "COMPLETED"; }, seconds(30)));
  EXPECT_EQ(Get(id).counts.completed, 8);

  // In commit order: a host's job is unfinished from job.created to its final event.
  std::map<std::string, bool> unfinished;
  int most = 0;
  int completed = 0;
  for (const auto& event : Replay(id, protocol::EventType::kRolloutCompleted)) {
    if (event.rollout_id != id || !event.agent_id) continue;
    using protocol::EventType;
    if (event.type == EventType::kJobCreated || event.type == EventType::kJobRetried) {
      unfinished[*event.agent_id] = true;
    } else if (event.type == EventType::kJobCompleted || event.type == EventType::kJobFailed ||
               event.type == EventType::kJobCancelled) {
      unfinished[*event.agent_id] = false;
      if (event.type == EventType::kJobCompleted) ++completed;
    }
    int now = 0;
    for (const auto& [agent, open] : unfinished)
      now += open ? 1 : 0;
    EXPECT_LE(now, 2) << "at seq " << event.seq;
    most = std::max(most, now);
  }
  EXPECT_EQ(most, 2);  // the slots were used
  EXPECT_EQ(completed, 8);
  for (const auto* handler : handlers_)
    EXPECT_EQ(handler->started.load(), 1);
}

// maxPerMinute 120 is two hosts in any second (orchestration::PaceOf), whatever the free slots:
// checked from the job.created events' times, on the leader's own timer.
TEST_F(RolloutAgentsTest, SixHostsStartAtAnEvenPaceOfTwoASecond) {
  StartAgents(6);
  const std::string id = Create(R"({"maxInFlight":6,"maxPerMinute":120})");
  ASSERT_TRUE(WaitFor([&] { return Get(id).status == "COMPLETED"; }, seconds(30)));
  std::vector<WallTime> created;
  for (const auto& event : Replay(id, protocol::EventType::kRolloutCompleted)) {
    if (event.rollout_id == id && event.type == protocol::EventType::kJobCreated) {
      created.push_back(event.timestamp);
    }
  }
  ASSERT_EQ(created.size(), 6u);
  for (const WallTime at : created) {
    const auto within = std::count_if(created.begin(), created.end(), [&](WallTime other) {
      return other <= at && other > at - milliseconds(1000);
    });
    EXPECT_LE(within, 2) << "at " << FormatTimestamp(at);
  }
  // The pace, not the slots, spread them: six starts take at least two windows.
  EXPECT_GE(created.back() - created.front(), milliseconds(2000));
}

TEST_F(RolloutAgentsTest, TheAbortThresholdStopsNewHosts) {
  StartAgents(8, /*fail=*/true);
  const std::string id =
      Create(R"({"maxInFlight":2,"abort":{"failedPercent":50,"minFinished":2}})");
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto rollout = Get(id);
        return rollout.status == "ABORTED" && rollout.counts.running == 0 &&
               rollout.counts.queued == 0 && rollout.counts.waiting == 0;
      },
      seconds(30)));
  const auto rollout = Get(id);
  EXPECT_GE(rollout.counts.failed, 2);
  // Two hosts at first, at most one more after the first failure (minFinished not reached yet);
  // an ABORTED rollout starts nobody, whatever happens later.
  EXPECT_GE(rollout.counts.pending, 5);
  int started = 0;
  for (const auto* handler : handlers_)
    started += handler->started.load();
  EXPECT_LE(started, 3);
  const auto events = Replay(id, protocol::EventType::kRolloutAborted);
  ASSERT_FALSE(events.empty());
  EXPECT_GE(events.back().counts->failed, 2);
}

TEST_F(RolloutAgentsTest, PauseHoldsTheNextHostAndResumeGoesOn) {
  StartAgents(3, false, /*gated=*/true);
  const std::string id = Create(R"({"maxInFlight":1})");
  ASSERT_TRUE(WaitFor([&] { return handlers_[0]->started.load() == 1; }, seconds(10)));
  EXPECT_EQ(cluster_.Admin("POST", "/v1/rollouts/" + id + "/pause").first, 200);
  for (auto* handler : handlers_)
    handler->release = true;
  // The counts show h1's end only after an advance that saw it: a paused one starts nobody.
  ASSERT_TRUE(WaitFor([&] { return Get(id).counts.completed == 1; }, seconds(10)));
  const auto paused = Get(id);
  EXPECT_EQ(paused.status, "PAUSED");
  EXPECT_EQ(paused.counts.pending, 2);
  EXPECT_EQ(handlers_[1]->started.load(), 0);

  EXPECT_EQ(cluster_.Admin("POST", "/v1/rollouts/" + id + "/resume").first, 200);
  ASSERT_TRUE(WaitFor([&] { return Get(id).status == "COMPLETED"; }, seconds(20)));
  EXPECT_EQ(Get(id).counts.completed, 3);
}

TEST_F(RolloutAgentsTest, ARestartOfFleetCmdrGoesOnWhereItWas) {
  StartAgents(3, false, /*gated=*/true);
  const std::string id = Create(R"({"maxInFlight":1})");
  ASSERT_TRUE(WaitFor([&] { return handlers_[0]->started.load() == 1; }, seconds(10)));
  cluster_.StopFleetCmdr();
  // h1 ends while fleet-cmdr is down; its agent reports it after the restart.
  for (auto* handler : handlers_)
    handler->release = true;
  cluster_.StartFleetCmdr();
  ASSERT_TRUE(WaitFor([&] { return Get(id).status == "COMPLETED"; }, seconds(30)));
  const auto rollout = Get(id);
  EXPECT_EQ(rollout.counts.completed, 3);
  for (const auto* handler : handlers_)
    EXPECT_EQ(handler->started.load(), 1);
}

}  // namespace
}  // namespace orb::testing
