#include "cli/job_watcher.hpp"

#include <chrono>
#include <map>
#include <set>

#include "cli/event_stream.hpp"
#include "cli/output.hpp"
#include "cli/progress_bar.hpp"
#include "protocol/codec.hpp"

namespace orb::cli {
namespace {

using protocol::EventType;

constexpr std::chrono::milliseconds kReceiveSlice{500};
// Without any event for this long the snapshots are read again (a safety net, not a poll).
constexpr std::chrono::seconds kSilenceRecheck{30};
constexpr std::size_t kMessageWidth = 60;

std::string TargetId(const protocol::Job& job) {
  if (job.instance_id) return *job.instance_id;
  if (job.server_id) return *job.server_id;
  return "";
}

}  // namespace

JobView ViewOf(const protocol::JobDetail& detail) {
  const auto& job = detail.job;
  JobView view;
  view.id = job.id;
  view.type = job.type;
  view.agent_id = job.agent_id;
  view.target = TargetId(job);
  view.status = std::string(protocol::ToString(job.status));
  if (!detail.runs.empty() && job.status == protocol::JobStatus::kRunning) {
    const auto& run = detail.runs.back();
    view.percent = run.percent;
    view.message = run.message.value_or("");
  }
  if (job.status == protocol::JobStatus::kCompleted) view.percent = 100;
  if (job.status == protocol::JobStatus::kFailed && job.last_error) {
    view.message = job.last_error->code + ": " + job.last_error->message;
  }
  if (job.status == protocol::JobStatus::kCreated && job.last_error) {
    view.message = "retrying after " + job.last_error->code + ": " + job.last_error->message;
  }
  return view;
}

void ApplyEvent(JobView& view, const protocol::Event& event) {
  if (event.job_type && view.type.empty()) view.type = *event.job_type;
  if (event.agent_id && view.agent_id.empty()) view.agent_id = *event.agent_id;
  if (event.instance_id && view.target.empty()) view.target = *event.instance_id;
  if (event.status) view.status = *event.status;
  switch (event.type) {
    case EventType::kJobRunning:
    case EventType::kJobQueued:
    case EventType::kJobRetried:
    case EventType::kJobCreated: view.percent.reset(); break;
    case EventType::kJobCompleted: view.percent = 100; break;
    default: break;
  }
  if (event.percent) view.percent = event.percent;
  if (event.error) {
    view.message = event.error->code + ": " + event.error->message;
  } else if (event.message) {
    view.message = *event.message;
  } else if (event.type != EventType::kJobProgress) {
    view.message.clear();
  }
}

bool EndsJob(EventType type) {
  return type == EventType::kJobCompleted || type == EventType::kJobFailed ||
         type == EventType::kJobCancelled;
}

std::string RenderJobLine(const JobView& view) {
  std::string line = view.id + "  " + view.type;
  if (!view.target.empty()) line += " " + view.target;
  line += "  " + RenderProgressBar(view.percent) + "  " + view.status;
  if (!view.message.empty()) line += "  " + Truncate(view.message, kMessageWidth);
  return line;
}

std::string RenderEventLine(const protocol::Event& event) {
  std::string line = FormatTimestamp(event.timestamp) + "  ";
  line += event.job_id ? *event.job_id : event.agent_id.value_or("-");
  line += "  " + std::string(protocol::ToString(event.type));
  if (event.status) line += "  " + *event.status;
  if (event.percent) line += "  " + std::to_string(*event.percent) + "%";
  if (event.error) {
    line += "  " + Truncate(event.error->code + ": " + event.error->message, 200);
  } else if (event.message) {
    line += "  " + Truncate(*event.message, 200);
  }
  return line;
}

Expected<std::vector<protocol::Job>> WaitForJobs(Context& ctx, Api& api,
                                                 const std::vector<std::string>& job_ids,
                                                 WatchDisplay display) {
  StreamFilter filter;
  if (job_ids.size() == 1) filter.job_id = job_ids.front();
  EventStream stream(api.connection(), filter, ctx.io().interrupted);
  if (auto opened = stream.Open(std::nullopt); !opened) return Fail(std::move(opened.error()));

  std::map<std::string, JobView> views;
  std::map<std::string, protocol::Job> finished;
  const std::set<std::string> wanted(job_ids.begin(), job_ids.end());
  ProgressBoard board(ctx.out());

  auto draw = [&] {
    if (display != WatchDisplay::kBars) return;
    std::vector<std::string> lines;
    for (const auto& id : job_ids)
      lines.push_back(RenderJobLine(views[id]));
    board.Draw(lines);
  };
  // Reads one job over REST; records it as finished when it is final.
  auto refresh = [&](const std::string& id) -> Status {
    auto detail = api.Call<protocol::JobDetail>("GET", "/v1/jobs/" + EscapeUrlComponent(id));
    if (!detail) return Fail(std::move(detail.error()));
    views[id] = ViewOf(*detail);
    if (protocol::IsFinal(detail->job.status)) finished[id] = detail->job;
    return Ok();
  };
  auto refresh_all = [&]() -> Status {
    for (const auto& id : wanted) {
      if (finished.count(id) > 0) continue;
      if (auto refreshed = refresh(id); !refreshed) return refreshed;
    }
    return Ok();
  };

  if (auto loaded = refresh_all(); !loaded) return Fail(std::move(loaded.error()));
  draw();
  auto last_activity = std::chrono::steady_clock::now();
  while (finished.size() < wanted.size()) {
    auto next = stream.Next(kReceiveSlice);
    if (!next) return Fail(std::move(next.error()));
    const auto now = std::chrono::steady_clock::now();
    if (!*next) {
      if (now - last_activity >= kSilenceRecheck) {
        last_activity = now;
        if (auto loaded = refresh_all(); !loaded) return Fail(std::move(loaded.error()));
        draw();
      }
      continue;
    }
    last_activity = now;
    const auto& message = **next;
    if (message.kind == protocol::StreamMessage::Kind::kResync) {
      if (auto loaded = refresh_all(); !loaded) return Fail(std::move(loaded.error()));
      draw();
      continue;
    }
    if (!message.event || !message.event->job_id) continue;
    const auto& event = *message.event;
    const std::string& id = *event.job_id;
    if (wanted.count(id) == 0 || finished.count(id) > 0) continue;
    ApplyEvent(views[id], event);
    if (display == WatchDisplay::kLines) {
      ctx.out() << RenderEventLine(event) << std::endl;
    } else if (display == WatchDisplay::kJsonEvents) {
      ctx.out() << protocol::ToJson(event) << std::endl;
    }
    if (EndsJob(event.type)) {
      if (auto refreshed = refresh(id); !refreshed) return Fail(std::move(refreshed.error()));
    }
    draw();
  }
  std::vector<protocol::Job> jobs;
  for (const auto& id : job_ids)
    jobs.push_back(finished[id]);
  return jobs;
}

}  // namespace orb::cli
