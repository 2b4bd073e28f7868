#include "jobs/builds/artifacts.hpp"

#include <utility>

#include "common/sanitize.hpp"

namespace orb::jobs {
namespace {

// The first line of the token file, whitespace trimmed; nullopt (and a warning) when unreadable.
std::optional<std::string> ReadToken(HandlerContext& context, os::Fs& fs,
                                     const std::filesystem::path& file) {
  if (file.empty()) return std::nullopt;
  auto text = fs.ReadFile(file);
  if (!text) {
    context.LogLine("warn", "cannot read the agent token (" + text.error().message +
                                "); downloading without it");
    return std::nullopt;
  }
  std::string token = text->substr(0, text->find('\n'));
  const auto first = token.find_first_not_of(" \t\r");
  if (first == std::string::npos) return std::nullopt;
  token = token.substr(first, token.find_last_not_of(" \t\r") - first + 1);
  RegisterSecret(token);  // never in a log line or a run's error (common/sanitize.hpp)
  return token;
}

}  // namespace

ArtifactSettings ArtifactSettings::From(const HandlerDeps& deps) {
  ArtifactSettings settings;
  settings.cache_dir = deps.artifact_cache;
  settings.control_plane_urls = deps.control_plane_urls;
  settings.token_file = deps.token_file;
  settings.ca_file = deps.ca_file;
  settings.max_bytes = deps.max_artifact_bytes;
  settings.retry = deps.download_retry;
  settings.connect_timeout = deps.download_connect_timeout;
  return settings;
}

Expected<DownloadResult> FetchArtifact(
    HandlerContext& context, os::Fs& fs, const ArtifactSettings& settings, const std::string& url,
    const std::string& sha256, std::uint64_t size,
    const std::function<void(std::uint64_t, std::uint64_t)>& on_bytes) {
  DownloadOptions options;
  options.max_bytes = settings.max_bytes;
  options.expected_size = size;
  options.control_plane_urls = settings.control_plane_urls;
  options.token = ReadToken(context, fs, settings.token_file);
  options.ca_file = settings.ca_file;
  options.connect_timeout = settings.connect_timeout;
  options.retry = settings.retry;
  options.progress = on_bytes;
  options.should_stop = [&context] { return context.cancelled(); };
  const std::filesystem::path cache =
      settings.cache_dir.empty() ? context.root() / "cache" / "artifacts" : settings.cache_dir;
  auto result = Download(url, sha256, cache, options);
  if (!result) {
    Error error = std::move(result.error());
    if (error.code == Errc::kInvalidRequest) error.code = Errc::kInvalidPayload;
    if (error.code == Errc::kCancelled) return Fail(context.cancel().ToError());
    return Fail(std::move(error));
  }
  if (result->reused) {
    context.LogLine("info", "artifact " + sha256 + " found in the cache");
  } else {
    context.LogLine("info", "downloaded artifact " + sha256 + " (" + std::to_string(result->bytes) +
                                " bytes, resumed from " + std::to_string(result->resumed_from) +
                                ")");
  }
  return result;
}

}  // namespace orb::jobs
