#pragma once

// A replica's copies of the shared store's artifacts (docs/decisions/0016, "Artifacts"). An
// artifact uploaded through another replica is copied from the store into this replica's
// artifact directory the first time a download asks for it here: one copy at a time per artifact
// however many downloads want it (a rollout's hosts ask for one new artifact together), and
// downloads read the copy as it grows, so the first byte leaves when the first piece is here, not
// when the whole artifact is (4 GiB: many seconds).
//
// The copy is written aside (`.upload-<random>`) and renamed to its sha256 when complete; a copy
// that fails is removed, and the downloads reading it are cut short (they resume with Range).
// Artifacts are content-addressed, so a finished copy never goes stale.
//
// Thread-safety: Open from any thread. A copy runs on a thread `post` gives it (a worker), for as
// long as the store takes to read the artifact; at most `max_running` copies run at once (each
// holds a worker that the API's calls share), the others wait their turn in order.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "net/file_io.hpp"
#include "store/store.hpp"

namespace orb::server {

class ArtifactCopies {
 public:
  struct Source {
    // The artifact's size; not_found when the store does not have it.
    std::function<Expected<std::uint64_t>(const std::string& sha256)> stat;
    // Its bytes [offset, offset + length), in order, a piece at a time (Store::ReadArtifact).
    std::function<Status(const std::string& sha256, std::uint64_t offset, std::uint64_t length,
                         const store::ArtifactSink& write)>
        read;
  };
  // What a download serves: the finished copy, or the copy still growing.
  struct Body {
    std::optional<std::filesystem::path> file;
    std::shared_ptr<net::GrowingBody> growing;
  };

  // `dir` exists. `post` runs a copy on a thread that may block.
  ArtifactCopies(std::filesystem::path dir, Source source,
                 std::function<void(std::function<void()>)> post, int max_running = 4);
  ArtifactCopies(const ArtifactCopies&) = delete;
  ArtifactCopies& operator=(const ArtifactCopies&) = delete;

  // Calls `then` with the artifact's body here: the copy under way, or a new one (`then` waits
  // for the store's answer about its size, on the copy's thread). Errors: the store's
  // (not_found, a retryable kStore), kIo when the copy cannot be written.
  void Open(const std::string& sha256, std::function<void(Expected<Body>)> then);

  class Copy;

 private:
  struct Entry {
    std::shared_ptr<Copy> copy;                                // once its size is known
    std::vector<std::function<void(Expected<Body>)>> waiting;  // until then
  };
  // Runs the copy of `sha256` on a thread of `post`, then the next one waiting.
  void Start(const std::string& sha256);
  void Run(const std::string& sha256);
  // Hands `body` (or the failure) to the calls waiting for the copy of `sha256`.
  void Answer(const std::string& sha256, const Expected<Body>& body);

  const std::filesystem::path dir_;
  const Source source_;
  const std::function<void(std::function<void()>)> post_;
  const int max_running_;
  std::mutex mutex_;
  std::map<std::string, Entry> copies_;  // under way or waiting to start, by sha256
  int running_ = 0;
  std::deque<std::string> waiting_;  // copies waiting for one of the max_running_, in order
};

}  // namespace orb::server
