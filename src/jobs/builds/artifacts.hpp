#pragma once

// Fetching the artifacts of INSTALL_SERVER, UPDATE_SERVER and SYNC_MODS into the one shared cache
// (job-types.md §1 "Downloads"): jobs/downloader.hpp with the agent's control plane, token and CA
// settings, the run's cancel token and its progress.
// Thread-safety: stateless apart from its settings; Download serialises one artifact's transfers.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "jobs/downloader.hpp"
#include "jobs/job_handler.hpp"
#include "net/retry.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

struct ArtifactSettings {
  std::filesystem::path cache_dir{};              // empty: <root>/cache/artifacts
  std::vector<std::string> control_plane_urls{};  // DownloadOptions::control_plane_urls
  std::filesystem::path token_file{};             // read per download; empty: no token
  std::optional<std::filesystem::path> ca_file{};
  std::uint64_t max_bytes = std::uint64_t{16} << 30;
  net::RetryPolicy retry{};
  std::chrono::milliseconds connect_timeout{10'000};

  static ArtifactSettings From(const HandlerDeps& deps);
};

// Makes sure the artifact is in the cache and verified, and returns it. `on_bytes(done, total)`
// follows the transfer. Cancellable through the run's token (the .part stays, resumable).
// Errors: invalid_payload for an unusable URL or hash; checksum_mismatch (not retryable);
// payload_too_large (bigger than its declared size or the limit); http / network / timeout
// (retryable as the downloader says); not_found (file://); io; cancelled.
Expected<DownloadResult> FetchArtifact(
    HandlerContext& context, os::Fs& fs, const ArtifactSettings& settings, const std::string& url,
    const std::string& sha256, std::uint64_t size,
    const std::function<void(std::uint64_t, std::uint64_t)>& on_bytes);

}  // namespace orb::jobs
