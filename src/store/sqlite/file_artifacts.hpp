#pragma once

// The SQLite store's artifacts: one file per artifact, named by its sha256, in
// <data_dir>/artifacts (where fleet-cmdr kept them before the store did). An upload is written to
// a temporary ".upload-*" file beside them, synced, checked, and linked into place (never over an
// existing artifact), so a reader sees an artifact whole or not at all; a crash leaves only
// ".upload-*" files, which Open removes. Internal to src/store/sqlite/.
// Thread-safety: all methods are thread-safe (each call has its own file descriptors).

#include <filesystem>
#include <vector>

#include "store/store.hpp"

namespace orb::store::sqlite {

class FileArtifacts {
 public:
  // Creates `dir` if missing and removes interrupted uploads.
  static Expected<FileArtifacts> Open(std::filesystem::path dir);

  Expected<bool> Put(std::string_view sha256, std::uint64_t size, const ArtifactSource& read);
  Expected<ArtifactStat> Stat(std::string_view sha256);
  Status Read(std::string_view sha256, std::uint64_t offset, std::uint64_t length,
              const ArtifactSink& write);
  // Every artifact file (named by a sha256; uploads in progress are not).
  Expected<std::vector<ArtifactStat>> List();
  // Unlinks the artifact's file, then syncs the directory. not_found when there is none.
  Status Remove(std::string_view sha256);

 private:
  explicit FileArtifacts(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace orb::store::sqlite
