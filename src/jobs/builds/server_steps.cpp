#include "jobs/builds/server_steps.hpp"

#include <algorithm>
#include <utility>

#include "common/ids.hpp"
#include "jobs/archive.hpp"
#include "os/atomic.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;

constexpr int kDownloadShare = 70;  // download 0-70 %, extract 70-95 % (job-types.md §3)
constexpr int kExtractEnd = 95;

}  // namespace

BuildOptions BuildOptions::From(const HandlerDeps& deps) {
  BuildOptions options;
  options.artifacts = ArtifactSettings::From(deps);
  options.instances = InstanceOptions::From(deps);
  return options;
}

Expected<InstallOutcome> StageAndCommit(HandlerContext& context, os::Fs& fs,
                                        const BuildOptions& options, const ServerPaths& paths,
                                        const std::string& build_id,
                                        const protocol::ArtifactRef& artifact,
                                        bool commit_is_point_of_no_return) {
  BuildStore store(fs);
  auto existing = store.FindCommitted(paths, build_id);
  if (!existing) return Fail(std::move(existing.error()));
  if (*existing) {
    if ((*existing)->artifact_sha256 != artifact.sha256) {
      return Fail(Errc::kAlreadyExists, "build " + build_id + " of server " + paths.server_id +
                                            " is already installed from another artifact (" +
                                            (*existing)->artifact_sha256 + "); use a new buildId");
    }
    context.LogLine("info", "build " + build_id + " is already installed");
    return InstallOutcome{std::move(**existing), true};
  }
  if (context.cancelled()) return Fail(context.cancel().ToError());

  context.Progress(0, "downloading the artifact", "download");
  ByteProgressReporter download_progress(context, 0, kDownloadShare, "download", "downloaded");
  auto fetched =
      FetchArtifact(context, fs, options.artifacts, artifact.url, artifact.sha256, artifact.size,
                    [&download_progress, &artifact](std::uint64_t done, std::uint64_t total) {
                      download_progress(done, total == 0 ? artifact.size : total);
                    });
  if (!fetched) return Fail(std::move(fetched.error()).WithContext("download " + build_id));
  if (context.cancelled()) return Fail(context.cancel().ToError());

  const fs::path staged = context.staging_dir() / "build";
  if (auto made = store.MakeDirs(context.root(), context.staging_dir()); !made) {
    return Fail(made.error());
  }
  if (auto removed = fs.RemoveTree(staged); !removed) return Fail(removed.error());
  context.Progress(kDownloadShare, "extracting", "extract");
  ExtractOptions extract;
  extract.should_stop = [&context] { return context.cancelled(); };
  ByteProgressReporter extract_progress(context, kDownloadShare, kExtractEnd, "extract",
                                        "extracted");
  extract.progress = [&extract_progress](std::uint64_t done, std::uint64_t total) {
    extract_progress(done, total);
  };
  auto extracted = SafeExtract(fetched->path, staged, extract);
  if (!extracted) {
    if (extracted.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
    return Fail(std::move(extracted.error()).WithContext("extract " + build_id));
  }
  context.LogLine("info", "extracted " + std::to_string(extracted->files) + " files (" +
                              std::to_string(extracted->bytes) + " bytes) of build " + build_id);
  if (context.cancelled()) return Fail(context.cancel().ToError());

  protocol::BuildRecord record;
  record.build_id = build_id;
  record.artifact_sha256 = artifact.sha256;
  record.files = extracted->files;
  record.bytes = extracted->bytes;
  record.committed_at = context.clock().WallNow();
  record.job_id = context.execution().job_id;
  if (commit_is_point_of_no_return) {
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
  }
  context.Progress(kExtractEnd - 1, "committing build " + build_id, "commit");
  if (auto committed = store.Commit(paths, staged, record); !committed) {
    return Fail(std::move(committed.error()).WithContext("commit " + build_id));
  }
  context.LogLine("info", "build " + build_id + " committed");
  context.Progress(kExtractEnd, "build " + build_id + " committed", "commit");
  return InstallOutcome{std::move(record), false};
}

Expected<std::vector<std::string>> InstanceMover::InstancesOf(HandlerContext& context,
                                                              const std::string& server_id) {
  std::vector<std::string> ids;
  auto entries = fs_.ReadDir(context.root() / "instances");
  if (!entries) {
    if (entries.error().code == Errc::kNotFound) return ids;
    return Fail(std::move(entries.error()));
  }
  for (const auto& entry : *entries) {
    if (entry.kind != os::FileKind::kDirectory || !IsValidName(entry.name)) continue;
    auto config = store_.LoadConfig(InstancePaths(context.root(), entry.name));
    if (!config) {
      context.LogLine("warn", "instance " + entry.name + " skipped: " + config.error().Describe());
      continue;
    }
    if (*config && (*config)->server_id == server_id) ids.push_back(entry.name);
  }
  return ids;
}

Expected<InstanceMover::Outcome> InstanceMover::MoveAll(HandlerContext& context,
                                                        const ServerPaths& paths,
                                                        const std::string& build_id,
                                                        int first_percent, int last_percent) {
  auto ids = InstancesOf(context, paths.server_id);
  if (!ids) return Fail(std::move(ids.error()));
  std::vector<std::string> planned;
  if (auto text = fs_.ReadFile(paths.restart_plan)) {
    if (auto plan = protocol::ParseRestartPlan(*text)) {
      planned = plan->instances;
    } else {
      context.LogLine("warn", "ignoring a damaged " + paths.restart_plan.string());
    }
  } else if (text.error().code != Errc::kNotFound) {
    return Fail(std::move(text.error()));
  }
  for (const auto& id : planned) {
    if (IsValidName(id) && std::find(ids->begin(), ids->end(), id) == ids->end()) {
      ids->push_back(id);
    }
  }
  std::sort(ids->begin(), ids->end());

  // job-types.md §3: the instances an update restarts are locked locally too (after server:).
  protocol::LockSet locks;
  for (const auto& id : *ids)
    locks.push_back({"instance:" + id, protocol::LockMode::kExclusive});
  if (auto locked = context.LockMore(locks); !locked) return Fail(locked.error());

  std::vector<std::string> to_move;
  for (const auto& id : *ids) {
    const InstancePaths instance(context.root(), id);
    auto runtime = store_.LoadRuntime(instance);
    if (!runtime) return Fail(std::move(runtime.error()));
    const bool running = InstanceStore::FindRunning(instance, *runtime).has_value();
    const bool was_planned = std::find(planned.begin(), planned.end(), id) != planned.end();
    // A planned instance that runs but was never seen ready (a crash during its start) is
    // restarted too, so that the move ends with a confirmed ready instance.
    const bool confirmed = runtime->state == protocol::InstanceState::kRunning;
    if ((running && (runtime->build_id != build_id || (was_planned && !confirmed))) ||
        (!running && was_planned)) {
      to_move.push_back(id);
    }
  }
  Outcome outcome;
  if (to_move.empty()) {
    if (!planned.empty()) {
      if (auto dropped = DropPlan(paths); !dropped) return Fail(dropped.error());
    }
    return outcome;
  }
  protocol::RestartPlan plan{build_id, context.execution().job_id, to_move};
  if (auto saved =
          os::WriteFileAtomically(fs_, paths.restart_plan, protocol::RestartPlanJson(plan));
      !saved) {
    return Fail(saved.error());
  }
  const int span = last_percent - first_percent;
  const int count = static_cast<int>(to_move.size());
  for (int i = 0; i < count; ++i) {
    const std::string& id = to_move[static_cast<std::size_t>(i)];
    context.SetProgressRange(first_percent + span * i / count,
                             first_percent + span * (i + 1) / count);
    context.LogLine("info", "restarting instance " + id + " on build " + build_id);
    auto stopped = store_.Stop(context, id, std::nullopt, 0, 40);
    if (!stopped) {
      outcome.failed = id;
      outcome.error = std::move(stopped.error());
      break;
    }
    auto started = store_.Start(context, id, std::nullopt, 50);
    if (!started) {
      outcome.failed = id;
      outcome.error = std::move(started.error());
      break;
    }
    outcome.restarted.push_back(id);
  }
  context.SetProgressRange(0, 100);
  if (!outcome.failed) {
    if (auto dropped = DropPlan(paths); !dropped) return Fail(dropped.error());
  }
  return outcome;
}

std::vector<std::string> InstanceMover::RestartAgain(HandlerContext& context,
                                                     const std::vector<std::string>& instances) {
  std::vector<std::string> failed;
  for (const auto& id : instances) {
    context.LogLine("info", "restarting instance " + id + " again");
    auto stopped = store_.Stop(context, id, std::nullopt, 96, 97);
    if (!stopped) {
      context.LogLine("error", "instance " + id + " did not stop: " + stopped.error().Describe());
      failed.push_back(id);
      continue;
    }
    auto started = store_.Start(context, id, std::nullopt, 98);
    if (!started) {
      context.LogLine("error", "instance " + id + " did not start: " + started.error().Describe());
      failed.push_back(id);
    }
  }
  return failed;
}

Status InstanceMover::DropPlan(const ServerPaths& paths) {
  if (auto removed = fs_.Unlink(paths.restart_plan);
      !removed && removed.error().code != Errc::kNotFound) {
    return removed;
  }
  return fs_.SyncDir(paths.dir);
}

}  // namespace orb::jobs
