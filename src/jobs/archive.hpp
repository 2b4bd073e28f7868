#pragma once

// Archives on the host (job-types.md §1 "Archives are never trusted", §3 INSTALL_SERVER step 3,
// BACKUP_INSTANCE step 3, VERIFY_BACKUP, RESTORE_BACKUP steps 1-2): safe extraction of untrusted
// tar / tar.gz / tar.zst / zip archives, and the standard tar + zstd backups with their manifest.
//
// Thread-safety: every function is reentrant; the callbacks are called on the calling thread.
// Nothing here changes the process's working directory or umask.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/expected.hpp"

namespace orb::jobs {

// Called every few hundred KB with (done, total): for SafeExtract and VerifyBackupArchive the
// compressed archive bytes consumed out of the archive's size, for WriteBackupArchive the file
// bytes read out of the total size of the files seen when the walk started.
using ByteProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;
// Returns true when the work should stop (a cancel); checked between entries and every few MB.
using StopCheck = std::function<bool()>;

struct ExtractOptions {
  std::uint64_t max_total_bytes = std::uint64_t{64} << 30;  // uncompressed bytes written, in all
  std::uint64_t max_entries = 1'000'000;
  StopCheck should_stop{};
  ByteProgress progress{};
};

struct ExtractResult {
  std::uint64_t files = 0;  // regular files and hard links
  std::uint64_t directories = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t bytes = 0;  // file content written
};

// Extracts `archive_path` (tar, pax, gnu tar, zip, ...; none, gzip, bzip2, xz or zstd compression,
// all detected from the content) into `staging_dir`, which must be empty or not exist yet (it is
// created, parents included). Every entry is checked before anything is written for it, and
// libarchive's ARCHIVE_EXTRACT_SECURE_SYMLINKS and _NODOTDOT guard the write as well. Refused
// (kUnsafeArchive, not retryable, the message names the entry and the reason):
//   absolute paths; `..` components; device, fifo and socket entries; symlinks that are absolute
//   or resolve (through the symlinks extracted before them) outside staging_dir; hard links to
//   anything but a regular file extracted earlier; entries whose parent path goes through a
//   symlink or that would replace a symlink; a symlink that changes how an earlier symlink
//   resolves; more than max_total_bytes or max_entries.
// File modes are kept without setuid/setgid/sticky; ownership is never changed; mtimes are kept.
// On any failure everything written into staging_dir is removed again (staging_dir itself stays)
// and nothing was ever written outside it.
// Errors: kUnsafeArchive as above; kIo when the archive cannot be read (corrupt, truncated,
// unknown format) or staging_dir cannot be written; kCancelled when should_stop said so.
Expected<ExtractResult> SafeExtract(const std::filesystem::path& archive_path,
                                    const std::filesystem::path& staging_dir,
                                    const ExtractOptions& options = {});

enum class EntryType { kFile, kDirectory, kSymlink };

// One entry of a backup (job-types.md §1 manifest `files`). Paths are relative, '/'-separated,
// without a leading "./".
struct ManifestEntry {
  std::string path;
  EntryType type = EntryType::kFile;
  std::uint64_t size = 0;     // bytes stored in the archive (files only)
  std::uint32_t mode = 0;     // permission bits (07777 mask) as stored
  std::int64_t mtime = 0;     // seconds since the epoch
  std::string sha256{};       // lower-case hex of the stored bytes (files only)
  std::string link_target{};  // symlinks only
  bool operator==(const ManifestEntry&) const = default;
};

struct BackupManifest {
  std::vector<ManifestEntry> entries;  // in archive order
  std::string archive_sha256;          // of the .tar.zst file as written
  std::uint64_t archive_bytes = 0;
  std::uint64_t file_bytes = 0;  // sum of the files' sizes
  // Files whose size or mtime changed while they were read: stored with the size seen at open
  // (shorter reads padded with zero bytes, as GNU tar does), and listed here.
  std::vector<std::string> changed;
  // Entries left out: sockets, fifos and devices, and files that vanished before they were read.
  std::vector<std::string> skipped;
};

struct BackupOptions {
  int compression_level = 3;  // zstd level
  int threads = 0;            // zstd worker threads, 0: compress on the archive's writer thread
  StopCheck should_stop{};
  ByteProgress progress{};
};

// Streams `source_dir` (not followed if it is a symlink's target below it: symlinks are stored as
// symlinks) into a POSIX pax tar compressed with zstd (a frame with content checksum per MiB of
// tar; the standard `tar --zstd -xf` and `zstd -t` read it) at `out_path`, hashing every file and
// the archive in the same pass, then fsyncs it. Entries are in sorted order. out_path is created or
// replaced; on failure it is removed.
// Errors: kIo (source unreadable, out_path unwritable; the message names the file); kCancelled.
Expected<BackupManifest> WriteBackupArchive(const std::filesystem::path& source_dir,
                                            const std::filesystem::path& out_path,
                                            const BackupOptions& options = {});

struct VerifyOptions {
  StopCheck should_stop{};
  ByteProgress progress{};
  std::size_t max_problems = 50;  // problems listed in the error, the rest only counted
};

struct VerifyResult {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // file bytes checked
};

// Checks `archive_path` fully against `manifest` (job-types.md VERIFY_BACKUP level full): the
// archive's size and sha256, then every entry decompressed: path safe, listed, same type, size,
// sha256, mode and link target, nothing missing, nothing extra, no duplicate.
// Errors: kBackupCorrupt (not retryable) with one `details` item per problem (field = the path, or
// "archive"), the message naming the first; kIo when the archive cannot be opened; kCancelled.
Expected<VerifyResult> VerifyBackupArchive(const std::filesystem::path& archive_path,
                                           const BackupManifest& manifest,
                                           const VerifyOptions& options = {});

}  // namespace orb::jobs
