#pragma once

// A small Prometheus registry for GET /metrics (protocol.md §5), rendered in the text exposition
// format 0.0.4.
//
//   MetricsRegistry registry;
//   auto& requests = registry.AddCounter("orb_http_requests_total", "HTTP requests.",
//                                        {"route", "code"});
//   requests.With({"/v1/jobs", "200"}).Inc();            // With() locks; keep the reference
//   auto& latency = registry.AddHistogram("orb_dispatch_latency_seconds", "...", {},
//                                         DefaultLatencyBuckets());
//   latency.With({}).Observe(0.004);                       // lock-free
//   std::string body = registry.RenderPrometheus();
//
// Thread-safety: everything may be called from any thread. Inc/Set/Add/Observe are lock-free
// atomics; With() takes its family's lock; rendering takes the registry's and each family's.
// References returned by Add*() and With() stay valid for the registry's lifetime.
// Names are the program's own constants: an invalid metric or label name, a duplicate family or
// a wrong number of label values is a programming error (assert; in release builds the name is
// used as is and missing label values are empty).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace orb::server {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  void Inc(double by = 1.0) {
    if (by > 0) value_.fetch_add(by, std::memory_order_relaxed);  // counters never go down
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in fixed buckets (upper bounds, inclusive, ascending) plus +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Seconds, 0.5 ms to 10 s: dispatch and store latencies.
std::vector<double> DefaultLatencyBuckets();

// One metric name with its children, one per combination of label values.
template <class Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::vector<double> bounds);
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The child for these label values, in the order of the family's label names; made on first use.
  Metric& With(const std::vector<std::string>& label_values);

  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls `visit(label_values, metric)` for each child, in label order, under the family's lock.
  void ForEach(
      const std::function<void(const std::vector<std::string>&, const Metric&)>& visit) const;

 private:
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Runs before every render, outside the registry's lock, to refresh gauges whose value lives
  // elsewhere (notify waiters, stream clients, jobs by status from the store).
  void AddCollector(std::function<void()> collect);

  // The text exposition of every family, in registration order.
  std::string RenderPrometheus() const;

 private:
  struct Entry;
  Entry& AddLocked(std::string name, std::string help, std::string_view type);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void()>> collectors_;
};

// Escapes a label value (\\, \", \n) and a HELP text (\\, \n) for the exposition format.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double value);

// The metrics protocol.md §5 asks of fleet-cmdr, registered on `registry`.
struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& registry);

  Family<Gauge>& jobs;                  // orb_jobs{type,status}
  Family<Histogram>& dispatch_latency;  // orb_dispatch_latency_seconds
  Family<Gauge>& notify_waiters;        // orb_notify_waiters
  Family<Counter>& http_requests;       // orb_http_requests_total{route,code}
  Family<Gauge>& stream_clients;        // orb_stream_clients
  Family<Counter>& stream_slow_closed;  // orb_stream_slow_closed_total
  Family<Histogram>& store_latency;     // orb_store_latency_seconds{op}
};

}  // namespace orb::server
