#include "server/metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>

#include <fmt/format.h>

namespace orb::server {
namespace {

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

[[maybe_unused]] bool IsValidLabelName(std::string_view name) {
  return IsValidMetricName(name) && name.find(':') == std::string_view::npos &&
         name.substr(0, 2) != "__" && name != "le";
}

// {a="x",b="y"} (with `extra` appended, e.g. le="0.5"), or nothing without labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, double value,
                  std::string_view extra = {}) {
  out += name;
  AppendLabels(out, names, values, extra);
  out += ' ';
  out += FormatSampleValue(value);
  out += '\n';
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_([&] {
        std::sort(bounds.begin(), bounds.end());
        bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
        std::erase_if(bounds, [](double b) { return std::isnan(b) || std::isinf(b); });
        return bounds;
      }()),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Bucket i counts values <= bounds_[i] (and > bounds_[i-1]); the last one is +Inf.
  const auto index = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// ---- Family ----

namespace {

template <class Metric>
std::unique_ptr<Metric> MakeMetric(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<Metric>();
  }
}

}  // namespace

template <class Metric>
Family<Metric>::Family(std::vector<std::string> label_names, std::vector<double> bounds)
    : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {
  // A family without labels always shows its one sample, even before the first change.
  if (label_names_.empty())
    children_.emplace(std::vector<std::string>{}, MakeMetric<Metric>(bounds_));
}

template <class Metric>
Metric& Family<Metric>::With(const std::vector<std::string>& label_values) {
  assert(label_values.size() == label_names_.size());
  std::vector<std::string> key = label_values;
  key.resize(label_names_.size());
  const std::lock_guard lock(mutex_);
  auto& child = children_[std::move(key)];
  if (!child) child = MakeMetric<Metric>(bounds_);
  return *child;
}

template <class Metric>
void Family<Metric>::ForEach(
    const std::function<void(const std::vector<std::string>&, const Metric&)>& visit) const {
  const std::lock_guard lock(mutex_);
  for (const auto& [values, metric] : children_)
    visit(values, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----

struct MetricsRegistry::Entry {
  std::string name;
  std::string help;
  std::string_view type;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;

  void Render(std::string& out) const {
    out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
    out += "# TYPE " + name + " " + std::string(type) + "\n";
    if (counter) {
      counter->ForEach([&](const auto& values, const Counter& metric) {
        AppendSample(out, name, counter->label_names(), values, metric.Value());
      });
    } else if (gauge) {
      gauge->ForEach([&](const auto& values, const Gauge& metric) {
        AppendSample(out, name, gauge->label_names(), values, metric.Value());
      });
    } else if (histogram) {
      const auto& names = histogram->label_names();
      histogram->ForEach([&](const auto& values, const Histogram& metric) {
        const auto snapshot = metric.Read();
        for (std::size_t i = 0; i <= snapshot.bounds.size(); ++i) {
          const auto le = i < snapshot.bounds.size() ? FormatSampleValue(snapshot.bounds[i])
                                                     : std::string("+Inf");
          AppendSample(out, name + "_bucket", names, values,
                       static_cast<double>(snapshot.cumulative[i]), "le=\"" + le + "\"");
        }
        AppendSample(out, name + "_sum", names, values, snapshot.sum);
        AppendSample(out, name + "_count", names, values,
                     static_cast<double>(snapshot.cumulative.back()));
      });
    }
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::AddLocked(std::string name, std::string help,
                                                   std::string_view type) {
  assert(IsValidMetricName(name));
  assert(std::none_of(entries_.begin(), entries_.end(),
                      [&](const auto& entry) { return entry->name == name; }));
  auto entry = std::make_unique<Entry>();
  entry->name = std::move(name);
  entry->help = std::move(help);
  entry->type = type;
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Family<Counter>& MetricsRegistry::AddCounter(std::string name, std::string help,
                                             std::vector<std::string> label_names) {
  assert(std::all_of(label_names.begin(), label_names.end(), IsValidLabelName));
  const std::lock_guard lock(mutex_);
  auto& entry = AddLocked(std::move(name), std::move(help), "counter");
  entry.counter = std::make_unique<Family<Counter>>(std::move(label_names), std::vector<double>{});
  return *entry.counter;
}

Family<Gauge>& MetricsRegistry::AddGauge(std::string name, std::string help,
                                         std::vector<std::string> label_names) {
  assert(std::all_of(label_names.begin(), label_names.end(), IsValidLabelName));
  const std::lock_guard lock(mutex_);
  auto& entry = AddLocked(std::move(name), std::move(help), "gauge");
  entry.gauge = std::make_unique<Family<Gauge>>(std::move(label_names), std::vector<double>{});
  return *entry.gauge;
}

Family<Histogram>& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                 std::vector<std::string> label_names,
                                                 std::vector<double> bounds) {
  assert(std::all_of(label_names.begin(), label_names.end(), IsValidLabelName));
  const std::lock_guard lock(mutex_);
  auto& entry = AddLocked(std::move(name), std::move(help), "histogram");
  entry.histogram = std::make_unique<Family<Histogram>>(std::move(label_names), std::move(bounds));
  return *entry.histogram;
}

void MetricsRegistry::AddCollector(std::function<void()> collect) {
  const std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::vector<std::function<void()>> collectors;
  {
    const std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors)
    collect();
  std::string out;
  const std::lock_guard lock(mutex_);
  for (const auto& entry : entries_)
    entry->Render(out);
  return out;
}

// ---- The server's metrics ----

ServerMetrics::ServerMetrics(MetricsRegistry& registry)
    : jobs(registry.AddGauge("orb_jobs", "Jobs by type and status.", {"type", "status"})),
      dispatch_latency(
          registry.AddHistogram("orb_dispatch_latency_seconds",
                                "Time from a job becoming QUEUED to its dispatch to an agent.", {},
                                DefaultLatencyBuckets())),
      notify_waiters(
          registry.AddGauge("orb_notify_waiters", "Agent long-poll notify requests being held.")),
      http_requests(registry.AddCounter("orb_http_requests_total", "HTTP requests answered.",
                                        {"route", "code"})),
      stream_clients(registry.AddGauge("orb_stream_clients", "Open event stream clients.")),
      stream_slow_closed(registry.AddCounter("orb_stream_slow_closed_total",
                                             "Stream clients closed for not keeping up (1008).")),
      store_latency(registry.AddHistogram("orb_store_latency_seconds",
                                          "Duration of store operations.", {"op"},
                                          DefaultLatencyBuckets())) {}

}  // namespace orb::server
