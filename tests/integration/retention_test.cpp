// fleet-cmdr's retention through a real FleetCmdr (docs/decisions/0018), on SQLite and (the
// `.postgres.` registration) on PostgreSQL: the leader's timers prune finished jobs, events and
// unnamed artifacts; a stream client asking `since` a pruned event is told to resync. The ages are
// shortened to a second so that real time can pass them; the store's own tests use a manual
// clock (tests/contract/store_retention_test.cpp).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/sha256.hpp"
#include "integration/test_cluster.hpp"
#include "net/ws_client.hpp"
#include "protocol/codec.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

server::FleetCmdrOptions ShortRetention() {
  auto options = TestCluster::DefaultOptions();
  options.retention.job_age = 1s;
  options.retention.artifact_age = 1s;
  options.retention.every = 50ms;
  return options;
}

std::string Upload(TestCluster& cluster, const std::string& bytes) {
  const auto reply =
      cluster.admin().Call("PUT", "/v1/artifacts", bytes, std::nullopt, "application/octet-stream");
  EXPECT_EQ(reply.status, 201) << reply.body;
  return Sha256Hex(bytes);
}

TEST(FleetCmdrRetentionTest, TheLeaderPrunesFinishedJobsAndUnnamedArtifactsButNothingUnfinished) {
  TestCluster cluster(ShortRetention());
  auto& agent = cluster.StartAgent("orb-1", {"BACKUP_INSTANCE"});
  cluster.Enroll("idle");  // never asks for jobs: its job stays queued
  const std::string named = Upload(cluster, "named by the queued job");
  const std::string loose = Upload(cluster, "named by nobody");
  const auto queued =
      cluster.Enqueue(R"({"agentId":"idle","type":"INSTALL_SERVER","serverId":"paper","payload":)"
                      R"({"buildId":"b1","artifact":{"url":"/v1/artifacts/)" +
                      named + R"(","sha256":")" + named + R"(","size":23,"format":"tar.gz"}}})");
  const auto done = cluster.Enqueue(JobBody("orb-1", "BACKUP_INSTANCE", "mc-1"));
  const auto run = agent.NextJob();
  ASSERT_TRUE(run);
  ASSERT_EQ(agent.Complete(run->run_id).status, 200);

  // Each pass runs every 50 ms and takes what is older than a second.
  ASSERT_TRUE(
      WaitFor([&] { return cluster.admin().Get("/v1/jobs/" + done.id).status == 404; }, 15s, 20ms));
  ASSERT_TRUE(WaitFor([&] { return cluster.admin().Get("/v1/artifacts/" + loose).status == 404; },
                      15s, 20ms));
  // The passes that took those looked at the queued job and its artifact too, both older than a
  // second by then: they stay.
  EXPECT_EQ(cluster.Status(queued.id), "QUEUED");
  EXPECT_EQ(cluster.admin().Get("/v1/jobs/" + done.id + "/logs").status, 404);
  EXPECT_EQ(cluster.admin().Get("/v1/artifacts/" + named).status, 200);
  const auto listed =
      protocol::FromJson<protocol::ArtifactList>(cluster.admin().Get("/v1/artifacts").body);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->artifacts.size(), 1u);
  EXPECT_EQ(listed->artifacts[0].sha256, named);
  EXPECT_EQ(listed->artifacts[0].unfinished_jobs, 1);
  // Gone from this replica's artifact dir too (the SQLite store's file; PostgreSQL's cached copy).
  EXPECT_TRUE(
      WaitFor([&] { return !std::filesystem::exists(cluster.data_dir() / "artifacts" / loose); },
              15s, 20ms));
  EXPECT_TRUE(std::filesystem::exists(cluster.data_dir() / "artifacts" / named));
}

// A stream client subscribing with `since`: its second message (after ready), or nullopt.
std::optional<protocol::StreamMessage> FirstAfterReady(TestCluster& cluster, std::int64_t since) {
  net::WebSocketOptions options;
  options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  net::WebSocketClient ws(options);
  if (!ws.Connect("/v1/stream")) return std::nullopt;
  if (!ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}","since":{}}})",
                           cluster.admin_token(), since))) {
    return std::nullopt;
  }
  auto ready = ws.Receive(5s);
  if (!ready) return std::nullopt;
  auto next = ws.Receive(5s);
  if (!next) return std::nullopt;
  auto message = protocol::ParseStreamMessage(*next);
  if (!message) return std::nullopt;
  return *message;
}

TEST(FleetCmdrRetentionTest, AStreamClientAskingSinceAPrunedEventIsToldToResync) {
  // Events older than 3 s go: long enough that the newest event of the last step is not pruned
  // under the client's feet on a slow machine.
  auto retention = ShortRetention();
  retention.retention.job_age = 3s;
  TestCluster cluster(retention);
  cluster.Enroll("orb-1");  // agent.enrolled: seq 1
  // Before it is pruned, since 0 replays it.
  auto first = FirstAfterReady(cluster, 0);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->event);
  EXPECT_EQ(first->event->type, protocol::EventType::kAgentEnrolled);
  // Once a pass pruned it (older than 3 s), since 0 is a resync.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto message = FirstAfterReady(cluster, 0);
        return message && message->kind == protocol::StreamMessage::Kind::kResync;
      },
      20s, 50ms));
  // A client that saw the newest event is not: it gets the next event.
  net::WebSocketOptions options;
  options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  net::WebSocketClient ws(options);
  ASSERT_TRUE(ws.Connect("/v1/stream"));
  ASSERT_TRUE(
      ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}"}})", cluster.admin_token())));
  auto ready = ws.Receive(5s);
  ASSERT_TRUE(ready);
  auto parsed = protocol::ParseStreamMessage(*ready);
  ASSERT_TRUE(parsed && parsed->kind == protocol::StreamMessage::Kind::kReady);
  const std::int64_t head = parsed->seq;
  cluster.Enroll("orb-2");
  auto next = FirstAfterReady(cluster, head);
  ASSERT_TRUE(next);
  ASSERT_TRUE(next->event) << "resync for a client that missed nothing";
  EXPECT_EQ(next->event->seq, head + 1);
  EXPECT_EQ(next->event->type, protocol::EventType::kAgentEnrolled);
}

}  // namespace
}  // namespace orb::testing
