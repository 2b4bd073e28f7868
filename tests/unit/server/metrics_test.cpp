#include "server/metrics.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace orb::server {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterHasHelpTypeAndLabelledSamples) {
  MetricsRegistry registry;
  auto& requests =
      registry.AddCounter("orb_http_requests_total", "HTTP requests answered.", {"route", "code"});
  requests.With({"/v1/jobs", "200"}).Inc();
  requests.With({"/v1/jobs", "200"}).Inc(2);
  requests.With({"/v1/agents", "401"}).Inc();
  requests.With({"/v1/agents", "401"}).Inc(-5);  // counters never go down

  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP orb_http_requests_total HTTP requests answered.\n"
            "# TYPE orb_http_requests_total counter\n"
            "orb_http_requests_total{route=\"/v1/agents\",code=\"401\"} 1\n"
            "orb_http_requests_total{route=\"/v1/jobs\",code=\"200\"} 3\n");
}

TEST(MetricsTest, FamilyWithoutLabelsShowsItsSampleFromTheStart) {
  MetricsRegistry registry;
  auto& waiters = registry.AddGauge("orb_notify_waiters", "Held notify requests.");
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP orb_notify_waiters Held notify requests.\n"
            "# TYPE orb_notify_waiters gauge\n"
            "orb_notify_waiters 0\n");
  waiters.With({}).Set(12);
  waiters.With({}).Add(-2.5);
  EXPECT_THAT(registry.RenderPrometheus(), HasSubstr("\norb_notify_waiters 9.5\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  auto& gauge = registry.AddGauge("orb_test", "A \\ back\nslash.", {"path"});
  gauge.With({"say \"hi\"\\\nbye"}).Set(1);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP orb_test A \\\\ back\\nslash.\n"
            "# TYPE orb_test gauge\n"
            "orb_test{path=\"say \\\"hi\\\"\\\\\\nbye\"} 1\n");
}

TEST(MetricsTest, HistogramHasCumulativeBucketsSumAndCount) {
  MetricsRegistry registry;
  auto& latency = registry.AddHistogram("orb_store_latency_seconds", "Store operations.", {"op"},
                                        {0.5, 0.01, 0.1});  // sorted on creation
  auto& save = latency.With({"save"});
  save.Observe(0.005);
  save.Observe(0.01);  // bounds are inclusive
  save.Observe(0.2);
  save.Observe(3);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP orb_store_latency_seconds Store operations.\n"
            "# TYPE orb_store_latency_seconds histogram\n"
            "orb_store_latency_seconds_bucket{op=\"save\",le=\"0.01\"} 2\n"
            "orb_store_latency_seconds_bucket{op=\"save\",le=\"0.1\"} 2\n"
            "orb_store_latency_seconds_bucket{op=\"save\",le=\"0.5\"} 3\n"
            "orb_store_latency_seconds_bucket{op=\"save\",le=\"+Inf\"} 4\n"
            "orb_store_latency_seconds_sum{op=\"save\"} 3.215\n"
            "orb_store_latency_seconds_count{op=\"save\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsHasOnlyTheLeLabel) {
  MetricsRegistry registry;
  auto& dispatch = registry.AddHistogram("orb_dispatch_latency_seconds", "Dispatch.", {}, {1});
  dispatch.With({}).Observe(0.25);
  const auto text = registry.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("orb_dispatch_latency_seconds_bucket{le=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("orb_dispatch_latency_seconds_bucket{le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("orb_dispatch_latency_seconds_sum 0.25\n"));
  EXPECT_THAT(text, HasSubstr("orb_dispatch_latency_seconds_count 1\n"));
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrder) {
  MetricsRegistry registry;
  registry.AddGauge("orb_b", "B.");
  registry.AddCounter("orb_a_total", "A.");
  const auto text = registry.RenderPrometheus();
  EXPECT_LT(text.find("orb_b"), text.find("orb_a_total"));
}

TEST(MetricsTest, SampleValuesUsePrometheusSpellings) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(0.0005), "0.0005");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
}

TEST(MetricsTest, CollectorsRefreshGaugesBeforeEachRender) {
  MetricsRegistry registry;
  auto& clients = registry.AddGauge("orb_stream_clients", "Stream clients.");
  int open = 3;
  registry.AddCollector([&] { clients.With({}).Set(open); });
  EXPECT_THAT(registry.RenderPrometheus(), HasSubstr("orb_stream_clients 3\n"));
  open = 5;
  EXPECT_THAT(registry.RenderPrometheus(), HasSubstr("orb_stream_clients 5\n"));
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  auto& counter = registry.AddCounter("orb_events_total", "Events.", {"kind"});
  auto& histogram = registry.AddHistogram("orb_latency_seconds", "Latency.", {}, {0.5});
  constexpr int kThreads = 4;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto& mine = counter.With({"x"});
      for (int i = 0; i < kEach; ++i) {
        mine.Inc();
        histogram.With({}).Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  std::thread renderer([&] {
    for (int i = 0; i < 50; ++i)
      EXPECT_FALSE(registry.RenderPrometheus().empty());
  });
  for (auto& thread : threads)
    thread.join();
  renderer.join();
  EXPECT_EQ(counter.With({"x"}).Value(), kThreads * kEach);
  const auto snapshot = histogram.With({}).Read();
  EXPECT_EQ(snapshot.cumulative.front(), static_cast<std::uint64_t>(kThreads * kEach / 2));
  EXPECT_EQ(snapshot.cumulative.back(), static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_DOUBLE_EQ(snapshot.sum, kThreads * kEach / 2 * 1.25);
}

TEST(MetricsTest, ServerMetricsRegistersTheFamiliesOfTheProtocol) {
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  metrics.jobs.With({"BACKUP_INSTANCE", "QUEUED"}).Set(2);
  metrics.store_latency.With({"dispatch"}).Observe(0.002);
  const auto text = registry.RenderPrometheus();
  for (const char* line :
       {"# TYPE orb_jobs gauge\n", "orb_jobs{type=\"BACKUP_INSTANCE\",status=\"QUEUED\"} 2\n",
        "# TYPE orb_dispatch_latency_seconds histogram\n", "# TYPE orb_notify_waiters gauge\n",
        "# TYPE orb_http_requests_total counter\n", "# TYPE orb_stream_clients gauge\n",
        "orb_store_latency_seconds_bucket{op=\"dispatch\",le=\"0.0025\"} 1\n"}) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

}  // namespace
}  // namespace orb::server
