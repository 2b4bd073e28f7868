#include "jobs/archive.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.hpp"
#include "jobs/archive_stream.hpp"
#include "os/fs.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunk = std::size_t{1} << 20;                // file reads
constexpr std::uint64_t kCheckEvery = std::uint64_t{4} << 20;       // cancel checks in a file
constexpr std::uint64_t kProgressEvery = std::uint64_t{256} << 10;  // progress callbacks
constexpr int kMaxSymlinkHops = 40;

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ArchiveReadDeleter>;
using WriteArchive = std::unique_ptr<archive, ArchiveWriteDeleter>;
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// libarchive's message, with the errno text it does not always include ("Write to restore size
// failed" of a full disk says nothing of EFBIG or ENOSPC).
std::string ArchiveErrorText(archive* a) {
  const char* raw = archive_error_string(a);
  std::string text = raw != nullptr ? raw : "unknown libarchive error";
  // libarchive reports a bad format as EILSEQ and misuse as EINVAL (its private
  // ARCHIVE_ERRNO_FILE_FORMAT and _PROGRAMMER on Linux): those words would mislead.
  if (const int error = archive_errno(a); error > 0 && error != EILSEQ && error != EINVAL) {
    const std::string why = ErrnoText(error);
    if (text.find(why) == std::string::npos) text += " (" + why + ")";
  }
  return text;
}

Error Unsafe(const std::string& entry, const std::string& why) {
  return MakeError(Errc::kUnsafeArchive, "unsafe archive entry '" + entry + "': " + why);
}

// Splits an entry name into its components: "./a//b/" -> {a, b}. nullopt with `why` set when the
// name is absolute or has a ".." component. An empty result is the archive's root ("./").
std::optional<std::vector<std::string>> SplitEntryPath(std::string_view raw, std::string& why) {
  if (raw.empty()) {
    why = "empty name";
    return std::nullopt;
  }
  if (raw.front() == '/') {
    why = "absolute path";
    return std::nullopt;
  }
  if (raw.find('\0') != std::string_view::npos) {
    why = "NUL in name";
    return std::nullopt;
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view part = raw.substr(start, end - start);
    if (part == "..") {
      why = "'..' component";
      return std::nullopt;
    }
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

std::string Join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count && i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

// Lets a tree be removed even where extraction left directories without write permission.
void MakeWritable(const fs::path& dir) {
  std::error_code ec;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add | fs::perm_options::nofollow,
                  ec);
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) MakeWritable(it->path());
  }
}

void RemoveContents(const fs::path& dir) {
  std::error_code ec;
  MakeWritable(dir);
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    children.push_back(it->path());
  }
  for (const auto& child : children)
    fs::remove_all(child, ec);
}

// What has been extracted so far, to judge each next entry against (paths relative to staging).
class ExtractModel {
 public:
  // Refuses entries under a symlink and entries that would replace one.
  std::optional<std::string> CheckPath(const std::vector<std::string>& parts) const {
    for (std::size_t i = 1; i < parts.size(); ++i) {
      if (symlinks_.count(Join(parts, i)) != 0) {
        return "its parent '" + Join(parts, i) + "' is a symlink";
      }
    }
    if (symlinks_.count(Join(parts, parts.size())) != 0) return "it would replace a symlink";
    return std::nullopt;
  }

  // A new symlink at `parts` pointing to `target`: relative, not replacing anything, not on the
  // path an earlier symlink resolves through, and resolving (through the earlier symlinks) inside.
  std::optional<std::string> CheckSymlink(const std::vector<std::string>& parts,
                                          const std::string& target,
                                          std::vector<std::string>& traversed) const {
    const std::string path = Join(parts, parts.size());
    if (target.empty()) return "empty symlink target";
    if (target.front() == '/') return "absolute symlink target '" + target + "'";
    if (entries_.count(path) != 0) return "a symlink would replace an entry extracted before";
    if (traversed_.count(path) != 0) {
      return "it would change where an earlier symlink points";
    }
    std::vector<std::string> resolved(parts.begin(), parts.end() - 1);
    std::vector<std::string> pending = SplitRaw(target);
    int hops = 0;
    while (!pending.empty()) {
      const std::string part = pending.front();
      pending.erase(pending.begin());
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (resolved.empty()) return "symlink target '" + target + "' points outside staging";
        resolved.pop_back();
        continue;
      }
      resolved.push_back(part);
      const std::string candidate = Join(resolved, resolved.size());
      if (!pending.empty()) traversed.push_back(candidate);
      if (const auto link = symlinks_.find(candidate); link != symlinks_.end()) {
        if (++hops > kMaxSymlinkHops) return "symlink target '" + target + "' loops";
        resolved.pop_back();
        auto more = SplitRaw(link->second);
        pending.insert(pending.begin(), more.begin(), more.end());
      }
    }
    return std::nullopt;
  }

  // A hard link must name a regular file extracted before.
  std::optional<std::string> CheckHardlink(const std::string& target_path) const {
    const auto it = entries_.find(target_path);
    if (it == entries_.end() || it->second != EntryType::kFile) {
      return "hard link to '" + target_path + "', which is not a file extracted before it";
    }
    return std::nullopt;
  }

  void AddEntry(const std::string& path, EntryType type) { entries_[path] = type; }
  void AddSymlink(const std::string& path, const std::string& target,
                  const std::vector<std::string>& traversed) {
    entries_[path] = EntryType::kSymlink;
    symlinks_[path] = target;
    traversed_.insert(traversed.begin(), traversed.end());
  }

 private:
  static std::vector<std::string> SplitRaw(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('/', start);
      if (end == std::string::npos) end = text.size();
      parts.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return parts;
  }

  std::unordered_map<std::string, EntryType> entries_;
  std::unordered_map<std::string, std::string> symlinks_;
  std::unordered_set<std::string> traversed_;
};

ReadArchive OpenReader() {
  ReadArchive reader(archive_read_new());
  if (!reader) return reader;
  // Only the formats and filters we mean: no mtree (it reads files named inside it from the host)
  // and no filters that run external programs.
  archive_read_support_format_tar(reader.get());
  archive_read_support_format_zip(reader.get());
  archive_read_support_format_empty(reader.get());
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_filter_bzip2(reader.get());
  archive_read_support_filter_xz(reader.get());
  archive_read_support_filter_zstd(reader.get());
  return reader;
}

class Extractor {
 public:
  Extractor(fs::path staging, const ExtractOptions& options, std::uint64_t archive_size)
      : staging_(std::move(staging)), options_(options), archive_size_(archive_size) {}

  Expected<ExtractResult> Run(archive* in, archive* out) {
    for (;;) {
      if (options_.should_stop && options_.should_stop()) {
        return Fail(Errc::kCancelled, "extraction cancelled");
      }
      archive_entry* entry = nullptr;
      const int status = archive_read_next_header(in, &entry);
      if (status == ARCHIVE_EOF) break;
      if (status < ARCHIVE_WARN) {
        return Fail(Errc::kIo, "cannot read archive: " + ArchiveErrorText(in));
      }
      if (++entries_ > options_.max_entries) {
        return Unsafe(SafeName(entry),
                      "more than " + std::to_string(options_.max_entries) + " entries");
      }
      if (auto written = Extract(in, out, entry); !written) return Fail(written.error());
    }
    return result_;
  }

 private:
  static std::string SafeName(archive_entry* entry) {
    const char* name = archive_entry_pathname(entry);
    return name != nullptr ? name : "(unnamed)";
  }

  Status Extract(archive* in, archive* out, archive_entry* entry) {
    const std::string name = SafeName(entry);
    std::string why;
    const auto parts = SplitEntryPath(name, why);
    if (!parts) return Fail(Unsafe(name, why));
    if (parts->empty()) return Ok();  // "./": staging itself
    const std::string rel = Join(*parts, parts->size());
    if (auto problem = model_.CheckPath(*parts)) return Fail(Unsafe(name, *problem));

    const char* hardlink = archive_entry_hardlink(entry);
    const auto type = archive_entry_filetype(entry);
    EntryType kind = EntryType::kFile;
    std::vector<std::string> traversed;
    if (hardlink != nullptr) {
      const auto target = SplitEntryPath(hardlink, why);
      if (!target || target->empty()) {
        return Fail(Unsafe(name, "hard link target '" + std::string(hardlink) +
                                     "': " + (why.empty() ? "staging itself" : why)));
      }
      const std::string target_rel = Join(*target, target->size());
      if (auto problem = model_.CheckHardlink(target_rel)) return Fail(Unsafe(name, *problem));
      archive_entry_set_hardlink(entry, (staging_ / target_rel).c_str());
    } else if (type == AE_IFDIR) {
      kind = EntryType::kDirectory;
    } else if (type == AE_IFLNK) {
      kind = EntryType::kSymlink;
      const char* target = archive_entry_symlink(entry);
      if (auto problem = model_.CheckSymlink(*parts, target != nullptr ? target : "", traversed)) {
        return Fail(Unsafe(name, *problem));
      }
    } else if (type != AE_IFREG) {
      return Fail(Unsafe(name, "device, fifo or socket entries are not allowed"));
    }

    const std::uint64_t declared =
        archive_entry_size_is_set(entry) != 0
            ? static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)))
            : 0;
    if (kind == EntryType::kFile && declared > options_.max_total_bytes - result_.bytes) {
      return Fail(Unsafe(name, "the archive exceeds the limit of " +
                                   std::to_string(options_.max_total_bytes) + " bytes"));
    }

    archive_entry_set_pathname(entry, (staging_ / rel).c_str());
    archive_entry_set_perm(entry, archive_entry_perm(entry) & 0777);
    if (archive_write_header(out, entry) < ARCHIVE_WARN) {
      // libarchive's own SECURE_* checks land here too.
      return Fail(Errc::kUnsafeArchive,
                  "cannot extract entry '" + name + "': " + ArchiveErrorText(out));
    }
    if (kind == EntryType::kFile && hardlink == nullptr) {
      if (auto copied = CopyData(in, out, name); !copied) return copied;
    }
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
      return Fail(Errc::kIo, "cannot finish entry '" + name + "': " + ArchiveErrorText(out));
    }
    switch (kind) {
      case EntryType::kFile:
        ++result_.files;
        model_.AddEntry(rel, kind);
        break;
      case EntryType::kDirectory:
        ++result_.directories;
        model_.AddEntry(rel, kind);
        break;
      case EntryType::kSymlink:
        ++result_.symlinks;
        model_.AddSymlink(rel, archive_entry_symlink(entry), traversed);
        break;
    }
    return Ok();
  }

  Status CopyData(archive* in, archive* out, const std::string& name) {
    std::uint64_t since_check = 0;
    for (;;) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      const int status = archive_read_data_block(in, &block, &size, &offset);
      if (status == ARCHIVE_EOF) return Ok();
      if (status < ARCHIVE_WARN) {
        return Fail(Errc::kIo, "cannot read entry '" + name + "': " + ArchiveErrorText(in));
      }
      if (size > options_.max_total_bytes - result_.bytes) {
        return Fail(Unsafe(name, "the archive exceeds the limit of " +
                                     std::to_string(options_.max_total_bytes) + " bytes"));
      }
      if (archive_write_data_block(out, block, size, offset) < ARCHIVE_WARN) {
        return Fail(Errc::kIo, "cannot write '" + name + "': " + ArchiveErrorText(out));
      }
      result_.bytes += size;
      since_check += size;
      if (since_check >= kCheckEvery) {
        since_check = 0;
        if (options_.should_stop && options_.should_stop()) {
          return Fail(Errc::kCancelled, "extraction cancelled");
        }
      }
      const auto consumed = static_cast<std::uint64_t>(archive_filter_bytes(in, -1));
      if (options_.progress && consumed >= last_progress_ + kProgressEvery) {
        last_progress_ = consumed;
        options_.progress(consumed, archive_size_);
      }
    }
  }

  fs::path staging_;
  const ExtractOptions& options_;
  std::uint64_t archive_size_;
  ExtractModel model_;
  ExtractResult result_;
  std::uint64_t entries_ = 0;
  std::uint64_t last_progress_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Backups

// A failed write is not reported to libarchive: libarchive 3.6 turns the archive FATAL, and
// archive_write_free then skips the close that frees its client buffer (a leak per failed
// backup on a full disk). The stream keeps the error instead; every libarchive call below is
// followed by a look at stream.ok().
la_ssize_t WriteToStream(archive*, void* client, const void* buffer, std::size_t length) {
  static_cast<ArchiveStream*>(client)->Write(buffer, length);
  return static_cast<la_ssize_t>(length);
}

struct WalkItem {
  std::string rel;  // below the backup's source directory
  struct stat st {};
};

// Lists the directory `dir_fd` (`rel` below the source directory `root`) depth-first in sorted
// order without following symlinks. Names are looked up relative to their directory: with a
// full path per file the kernel's path walk was the largest part of the walk.
// `emit` takes each item; when it returns false the walk stops (kCancelled).
template <typename Emit>
Status Walk(int dir_fd, const fs::path& root, const std::string& rel, Emit& emit) {
  const auto where = [&] { return (rel.empty() ? root : root / rel).string(); };
  std::vector<std::string> names;
  {
    const int list_fd = ::dup(dir_fd);
    DIR* dir = list_fd < 0 ? nullptr : ::fdopendir(list_fd);
    if (dir == nullptr) {
      const int error = errno;
      if (list_fd >= 0) ::close(list_fd);
      return Fail(Errc::kIo, "cannot list " + where() + ": " + ErrnoText(error));
    }
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    const int error = errno;
    ::closedir(dir);
    if (error != 0) return Fail(Errc::kIo, "cannot list " + where() + ": " + ErrnoText(error));
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    WalkItem item;
    item.rel = rel.empty() ? name : rel + "/" + name;
    if (::fstatat(dir_fd, name.c_str(), &item.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // vanished: nothing to back up
      return Fail(Errc::kIo, "cannot stat " + (root / item.rel).string() + ": " + ErrnoText(errno));
    }
    const bool is_dir = S_ISDIR(item.st.st_mode);
    std::string child = item.rel;
    if (!emit(std::move(item))) return Fail(Errc::kCancelled, "walk stopped");
    if (!is_dir) continue;
    Fd child_fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (child_fd.get() < 0) {
      // Vanished or replaced since the stat: stored as the empty directory it was.
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
      return Fail(Errc::kIo, "cannot open " + (root / child).string() + ": " + ErrnoText(errno));
    }
    if (auto walked = Walk(child_fd.get(), root, child, emit); !walked) return walked;
  }
  return Ok();
}

// Walks the source tree on a thread of its own and hands out what it finds in order while the
// backup archives it: a tree of many small files otherwise held up the start (bench/backup:
// 60 ms of 25,000 stats, one core busy, the other idle).
class TreeWalker {
 public:
  // `root_fd` (the directory `root`) must stay open while the walker lives.
  TreeWalker(int root_fd, fs::path root)
      : root_fd_(root_fd), root_(std::move(root)), thread_([this] { Run(); }) {}
  ~TreeWalker() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  TreeWalker(const TreeWalker&) = delete;
  TreeWalker& operator=(const TreeWalker&) = delete;

  // Waits for the next item; false at the end of the walk or when it failed (see status()).
  bool Next(WalkItem& item) {
    if (taken_at_ == taken_.size()) {
      taken_.clear();
      taken_at_ = 0;
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return !ready_.empty() || done_; });
      if (!status_ || ready_.empty()) return false;
      taken_.swap(ready_);
    }
    item = std::move(taken_[taken_at_++]);
    return true;
  }

  // After Next() returned false: Ok at the end of the tree, else why the walk failed.
  Status status() {
    std::lock_guard lock(mutex_);
    return status_;
  }

  // The size of the regular files found so far: all of them once the walk is complete.
  std::uint64_t total() const { return total_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kBatch = 64;

  void Run() {
    auto emit = [this](WalkItem&& item) {
      if (S_ISREG(item.st.st_mode)) {
        total_.fetch_add(static_cast<std::uint64_t>(item.st.st_size), std::memory_order_relaxed);
      }
      batch_.push_back(std::move(item));
      if (batch_.size() >= kBatch) Publish();
      return !stop_.load(std::memory_order_relaxed);
    };
    Status walked = Walk(root_fd_, root_, "", emit);
    std::lock_guard lock(mutex_);
    status_ = std::move(walked);
    PublishLocked();
    done_ = true;
    changed_.notify_all();
  }

  void Publish() {
    std::lock_guard lock(mutex_);
    PublishLocked();
    changed_.notify_all();
  }

  void PublishLocked() {
    std::move(batch_.begin(), batch_.end(), std::back_inserter(ready_));
    batch_.clear();
  }

  const int root_fd_;
  const fs::path root_;
  std::vector<WalkItem> batch_;  // the walker's, not yet published
  std::atomic<std::uint64_t> total_{0};
  std::atomic<bool> stop_{false};
  std::vector<WalkItem> taken_;  // the consumer's
  std::size_t taken_at_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<WalkItem> ready_;
  bool done_ = false;
  Status status_ = Ok();
  std::thread thread_;  // last: starts once everything above exists
};

class BackupWriter {
 public:
  // Reads the files below `root` (open as `root_fd`) into `stream` through `a`.
  BackupWriter(archive* a, ArchiveStream& stream, int root_fd, const fs::path& root,
               const BackupOptions& options, const TreeWalker& walker)
      : a_(a),
        stream_(stream),
        root_fd_(root_fd),
        root_(root),
        options_(options),
        walker_(walker) {}

  Status Add(const WalkItem& item, BackupManifest& manifest) {
    Entry entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), item.rel.c_str());
    archive_entry_set_perm(entry.get(), static_cast<__LA_MODE_T>(item.st.st_mode & 07777));
    archive_entry_set_mtime(entry.get(), item.st.st_mtim.tv_sec, 0);
    archive_entry_set_uid(entry.get(), item.st.st_uid);
    archive_entry_set_gid(entry.get(), item.st.st_gid);
    ManifestEntry record;
    record.path = item.rel;
    record.mode = static_cast<std::uint32_t>(item.st.st_mode & 07777);
    record.mtime = item.st.st_mtim.tv_sec;
    if (S_ISDIR(item.st.st_mode)) {
      record.type = EntryType::kDirectory;
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      if (auto written = WriteHeader(entry.get(), item); !written) return written;
    } else if (S_ISLNK(item.st.st_mode)) {
      record.type = EntryType::kSymlink;
      std::string target(static_cast<std::size_t>(std::max<off_t>(item.st.st_size, 0)) + 1, '\0');
      for (;;) {
        const ssize_t n = ::readlinkat(root_fd_, item.rel.c_str(), target.data(), target.size());
        if (n < 0) {
          if (errno == ENOENT || errno == EINVAL) {  // vanished, or no longer a symlink
            manifest.skipped.push_back(item.rel);
            return Ok();
          }
          return Fail(Errc::kIo, "cannot read symlink " + Where(item) + ": " + ErrnoText(errno));
        }
        if (static_cast<std::size_t>(n) < target.size()) {
          target.resize(static_cast<std::size_t>(n));
          break;
        }
        target.resize(target.size() * 2);  // changed since the stat, and longer
      }
      record.link_target = std::move(target);
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), record.link_target.c_str());
      if (auto written = WriteHeader(entry.get(), item); !written) return written;
    } else if (S_ISREG(item.st.st_mode)) {
      return AddFile(item, std::move(entry), std::move(record), manifest);
    } else {
      manifest.skipped.push_back(item.rel);
      return Ok();
    }
    manifest.entries.push_back(std::move(record));
    return Ok();
  }

 private:
  Status WriteHeader(archive_entry* entry, const WalkItem& item) {
    if (archive_write_header(a_, entry) < ARCHIVE_WARN) {
      return Fail(Errc::kIo,
                  "cannot write the archive entry of " + Where(item) + ": " + ArchiveErrorText(a_));
    }
    if (!stream_.ok()) return Fail(Errc::kIo, "cannot write the archive: " + stream_.error());
    return Ok();
  }

  Status AddFile(const WalkItem& item, Entry entry, ManifestEntry record,
                 BackupManifest& manifest) {
    // O_NONBLOCK: a file replaced by a fifo since the walk would otherwise block the open until
    // some writer came; the fstat below then finds it is no longer a regular file.
    Fd fd(::openat(root_fd_, item.rel.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) {
        manifest.skipped.push_back(item.rel);
        return Ok();
      }
      return Fail(Errc::kIo, "cannot open " + Where(item) + ": " + ErrnoText(errno));
    }
    struct stat before {};
    if (::fstat(fd.get(), &before) != 0) {
      return Fail(Errc::kIo, "cannot stat " + Where(item) + ": " + ErrnoText(errno));
    }
    if (!S_ISREG(before.st_mode)) {  // replaced by something else since the walk
      manifest.skipped.push_back(item.rel);
      return Ok();
    }
    const auto size = static_cast<std::uint64_t>(before.st_size);
    record.size = size;
    record.mode = static_cast<std::uint32_t>(before.st_mode & 07777);
    record.mtime = before.st_mtim.tv_sec;
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), static_cast<__LA_MODE_T>(record.mode));
    archive_entry_set_mtime(entry.get(), record.mtime, 0);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    if (auto written = WriteHeader(entry.get(), item); !written) return written;

    // The contents are read straight into the archive stream, which hashes them on its way;
    // the digest lands in the entry this file gets (WriteBackupArchive fills it in).
    const std::size_t slot = manifest.entries.size();
    std::uint64_t left = size;
    bool shrank = false;
    std::uint64_t since_check = 0;
    if (left == 0) stream_.ExpectContent(slot, 0, true);
    while (left > 0) {
      const std::span<char> room = stream_.Room();
      if (room.empty()) return Fail(Errc::kIo, "cannot write the archive: " + stream_.error());
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, room.size()));
      ssize_t n = 0;
      if (!shrank) {
        n = ::read(fd.get(), room.data(), want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          return Fail(Errc::kIo, "cannot read " + Where(item) + ": " + ErrnoText(errno));
        }
      }
      if (n == 0) {  // the file shrank: pad with zeros up to the size in the header
        shrank = true;
        std::fill(room.data(), room.data() + want, '\0');
        n = static_cast<ssize_t>(want);
      }
      const auto got = static_cast<std::size_t>(n);
      stream_.ExpectContent(slot, got, got == left);
      if (archive_write_data(a_, room.data(), got) < 0) {
        return Fail(Errc::kIo, "cannot write the archive: " + ArchiveErrorText(a_));
      }
      if (!stream_.ok()) return Fail(Errc::kIo, "cannot write the archive: " + stream_.error());
      if (stream_.expected() != 0) {
        return Fail(Errc::kInternal,
                    "libarchive stored less of " + Where(item) + " than it was given");
      }
      left -= got;
      done_ += got;
      since_check += got;
      if (since_check >= kCheckEvery) {
        since_check = 0;
        if (options_.should_stop && options_.should_stop()) {
          return Fail(Errc::kCancelled, "backup cancelled");
        }
      }
      // Against the total found so far: the walk is usually complete a few ms in, and the
      // percentage never goes back (ByteProgressReporter) if it is not.
      if (options_.progress && done_ >= last_progress_ + kProgressEvery) {
        last_progress_ = done_;
        options_.progress(done_, std::max(walker_.total(), done_));
      }
    }
    struct stat after {};
    const bool changed = shrank || ::fstat(fd.get(), &after) != 0 ||
                         after.st_size != before.st_size ||
                         after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                         after.st_mtim.tv_nsec != before.st_mtim.tv_nsec;
    if (changed) manifest.changed.push_back(item.rel);
    manifest.file_bytes += size;
    manifest.entries.push_back(std::move(record));
    return Ok();
  }

  std::string Where(const WalkItem& item) const { return (root_ / item.rel).string(); }

  archive* a_;
  ArchiveStream& stream_;
  int root_fd_;
  const fs::path& root_;
  const BackupOptions& options_;
  const TreeWalker& walker_;
  std::uint64_t done_ = 0;
  std::uint64_t last_progress_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Verification

// Feeds libarchive from a file descriptor and hashes every byte read, so the archive's own
// sha256 comes out of the same pass that decompresses it.
struct HashingSource {
  int fd = -1;
  Sha256 hash;
  std::uint64_t bytes = 0;
  std::vector<char> buffer = std::vector<char>(kChunk);
  std::string error;

  // Reads the rest of the file (what libarchive did not need, e.g. the last block's padding).
  bool Drain() {
    for (;;) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = ErrnoText(errno);
        return false;
      }
      if (n == 0) return true;
      hash.Update(buffer.data(), static_cast<std::size_t>(n));
      bytes += static_cast<std::uint64_t>(n);
    }
  }
};

la_ssize_t ReadHashing(archive* a, void* client, const void** out) {
  auto* source = static_cast<HashingSource*>(client);
  for (;;) {
    const ssize_t n = ::read(source->fd, source->buffer.data(), source->buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "%s", ErrnoText(errno).c_str());
      return -1;
    }
    source->hash.Update(source->buffer.data(), static_cast<std::size_t>(n));
    source->bytes += static_cast<std::uint64_t>(n);
    *out = source->buffer.data();
    return n;
  }
}

std::string_view TypeName(EntryType type) {
  switch (type) {
    case EntryType::kFile: return "file";
    case EntryType::kDirectory: return "directory";
    case EntryType::kSymlink: return "symlink";
  }
  return "entry";
}

class Problems {
 public:
  explicit Problems(std::size_t max) : max_(max) {}
  void Add(std::string field, std::string problem) {
    ++count_;
    if (items_.size() < max_) items_.push_back(FieldProblem{std::move(field), std::move(problem)});
  }
  bool empty() const { return count_ == 0; }
  Error ToError(const std::filesystem::path& archive_path) && {
    std::string message =
        "backup " + archive_path.filename().string() + " is corrupt: " + std::to_string(count_) +
        " problem(s), first: " + items_.front().field + ": " + items_.front().problem;
    Error error = MakeError(Errc::kBackupCorrupt, std::move(message));
    error.details = std::move(items_);
    return error;
  }

 private:
  std::size_t max_;
  std::size_t count_ = 0;
  std::vector<FieldProblem> items_;
};

}  // namespace

Expected<ExtractResult> SafeExtract(const fs::path& archive_path, const fs::path& staging_dir,
                                    const ExtractOptions& options) {
  std::error_code ec;
  const auto archive_size = fs::file_size(archive_path, ec);
  if (ec)
    return Fail(Errc::kIo, "cannot read archive " + archive_path.string() + ": " + ec.message());
  fs::create_directories(staging_dir, ec);
  if (ec) return Fail(Errc::kIo, "cannot create " + staging_dir.string() + ": " + ec.message());
  if (!fs::is_empty(staging_dir, ec) || ec) {
    return Fail(Errc::kIo, "staging directory " + staging_dir.string() + " is not empty");
  }
  // libarchive writes relative to the process's working directory, so entries get absolute
  // names; the canonical prefix has no symlink for SECURE_SYMLINKS to trip over.
  const fs::path staging = fs::canonical(staging_dir, ec);
  if (ec) return Fail(Errc::kIo, "cannot resolve " + staging_dir.string() + ": " + ec.message());

  ReadArchive in = OpenReader();
  WriteArchive out(archive_write_disk_new());
  if (!in || !out) return Fail(Errc::kInternal, "libarchive cannot allocate");
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  if (archive_read_open_filename(in.get(), archive_path.c_str(), kChunk) != ARCHIVE_OK) {
    return Fail(Errc::kIo,
                "cannot open archive " + archive_path.string() + ": " + ArchiveErrorText(in.get()));
  }
  Extractor extractor(staging, options, archive_size);
  auto result = extractor.Run(in.get(), out.get());
  // Close applies the deferred directory modes and times.
  const bool closed = archive_write_close(out.get()) >= ARCHIVE_WARN;
  if (result && !closed) {
    result = Fail(Errc::kIo, "cannot finish extraction into " + staging.string() + ": " +
                                 ArchiveErrorText(out.get()));
  }
  if (!result) {
    RemoveContents(staging);
    return Fail(std::move(result.error()).WithContext("extract " + archive_path.string()));
  }
  if (options.progress) options.progress(archive_size, archive_size);
  return result;
}

Expected<BackupManifest> WriteBackupArchive(const fs::path& source_dir, const fs::path& out_path,
                                            const BackupOptions& options) {
  std::error_code ec;
  Fd root(::open(source_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) {
    if (errno == ENOTDIR || errno == ENOENT) {
      return Fail(Errc::kIo, "backup source " + source_dir.string() + " is not a directory");
    }
    return Fail(Errc::kIo, "cannot open " + source_dir.string() + ": " + ErrnoText(errno));
  }
  TreeWalker walker(root.get(), source_dir);

  Fd fd(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, os::kPrivateFileMode));
  if (fd.get() < 0) {
    return Fail(Errc::kIo, "cannot create " + out_path.string() + ": " + ErrnoText(errno));
  }
  // Torn down in this order on failure: libarchive (its close still writes into the stream),
  // the stream (its threads write to fd), then fd.
  std::optional<ArchiveStream> stream_holder;
  WriteArchive a;
  auto fail = [&](Error error) -> Expected<BackupManifest> {
    a.reset();
    stream_holder.reset();
    fd.Reset();
    fs::remove(out_path, ec);
    return Fail(std::move(error).WithContext("backup " + source_dir.string()));
  };

  ArchiveStream& stream = stream_holder.emplace(
      fd.get(), ArchiveStreamOptions{.compression_level = options.compression_level,
                                     .zstd_workers = options.threads});
  if (!stream.ok()) return fail(MakeError(Errc::kInternal, stream.error()));
  a.reset(archive_write_new());
  if (!a) return fail(MakeError(Errc::kInternal, "libarchive cannot allocate"));
  archive_write_set_format_pax_restricted(a.get());
  // No blocking into 10 KiB records: the stream gathers its own pieces, and file contents pass
  // through libarchive without a copy. The archive ends after its two zero records, which
  // every tar reader accepts.
  archive_write_set_bytes_per_block(a.get(), 0);
  if (archive_write_open2(a.get(), &stream, nullptr, WriteToStream, nullptr, nullptr) !=
      ARCHIVE_OK) {
    return fail(MakeError(Errc::kIo, "cannot start the archive: " + ArchiveErrorText(a.get())));
  }

  BackupManifest manifest;
  BackupWriter writer(a.get(), stream, root.get(), source_dir, options, walker);
  for (WalkItem item; walker.Next(item);) {
    if (options.should_stop && options.should_stop()) {
      return fail(MakeError(Errc::kCancelled, "backup cancelled"));
    }
    if (auto added = writer.Add(item, manifest); !added) return fail(std::move(added.error()));
  }
  if (auto walked = walker.status(); !walked) return fail(std::move(walked.error()));
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return fail(MakeError(Errc::kIo, "cannot finish the archive: " + ArchiveErrorText(a.get())));
  }
  if (!stream.Finish()) {
    return fail(MakeError(Errc::kIo, "cannot write " + out_path.string() + ": " + stream.error()));
  }
  if (::fsync(fd.get()) != 0) {
    return fail(
        MakeError(Errc::kIo, "cannot fsync " + out_path.string() + ": " + ErrnoText(errno)));
  }
  if (::close(fd.Release()) != 0) {
    return fail(
        MakeError(Errc::kIo, "cannot close " + out_path.string() + ": " + ErrnoText(errno)));
  }
  std::vector<std::string> digests = stream.TakeFileDigests();
  for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
    if (manifest.entries[i].type == EntryType::kFile && i < digests.size()) {
      manifest.entries[i].sha256 = std::move(digests[i]);
    }
  }
  manifest.archive_sha256 = stream.ArchiveSha256Hex();
  manifest.archive_bytes = stream.archive_bytes();
  if (options.progress) {
    const std::uint64_t total = std::max(walker.total(), manifest.file_bytes);
    options.progress(total, total);
  }
  return manifest;
}

Expected<VerifyResult> VerifyBackupArchive(const fs::path& archive_path,
                                           const BackupManifest& manifest,
                                           const VerifyOptions& options) {
  HashingSource source;
  Fd fd(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Fail(Errc::kIo, "cannot open backup " + archive_path.string() + ": " + ErrnoText(errno));
  }
  source.fd = fd.get();
  std::error_code ec;
  const auto archive_size = fs::file_size(archive_path, ec);

  std::map<std::string, const ManifestEntry*> expected;
  for (const auto& entry : manifest.entries)
    expected.emplace(entry.path, &entry);
  std::set<std::string> seen;
  Problems problems(std::max<std::size_t>(options.max_problems, 1));
  VerifyResult result;

  ReadArchive in(archive_read_new());
  if (!in) return Fail(Errc::kInternal, "libarchive cannot allocate");
  archive_read_support_format_tar(in.get());
  archive_read_support_filter_zstd(in.get());
  archive_read_support_filter_none(in.get());
  bool readable = archive_read_open(in.get(), &source, nullptr, ReadHashing, nullptr) == ARCHIVE_OK;
  std::vector<char> buffer(kChunk);
  std::uint64_t since_check = 0;
  std::uint64_t last_progress = 0;
  if (!readable) problems.Add("archive", "not a readable tar.zst: " + ArchiveErrorText(in.get()));
  while (readable) {
    if (options.should_stop && options.should_stop()) {
      return Fail(Errc::kCancelled, "verification cancelled");
    }
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(in.get(), &entry);
    if (status == ARCHIVE_EOF) break;
    if (status < ARCHIVE_WARN) {
      problems.Add("archive", "unreadable: " + ArchiveErrorText(in.get()));
      readable = false;
      break;
    }
    ++result.entries;
    const char* raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name != nullptr ? raw_name : "";
    std::string why;
    const auto parts = SplitEntryPath(name, why);
    if (!parts || parts->empty()) {
      problems.Add(name, "unsafe path: " + (why.empty() ? "the archive root" : why));
      continue;
    }
    const std::string rel = Join(*parts, parts->size());
    const auto type = archive_entry_filetype(entry);
    const EntryType kind = type == AE_IFDIR   ? EntryType::kDirectory
                           : type == AE_IFLNK ? EntryType::kSymlink
                                              : EntryType::kFile;
    if (archive_entry_hardlink(entry) != nullptr ||
        (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)) {
      problems.Add(rel, "unexpected entry type (hard link, device, fifo or socket)");
      continue;
    }
    if (!seen.insert(rel).second) {
      problems.Add(rel, "appears twice in the archive");
      continue;
    }
    const auto found = expected.find(rel);
    if (found == expected.end()) {
      problems.Add(rel, "in the archive but not in the manifest");
      continue;
    }
    const ManifestEntry& want = *found->second;
    if (kind != want.type) {
      problems.Add(rel, "is a " + std::string(TypeName(kind)) + ", the manifest says " +
                            std::string(TypeName(want.type)));
      continue;
    }
    const auto mode = static_cast<std::uint32_t>(archive_entry_perm(entry) & 07777);
    if (mode != want.mode) {
      problems.Add(
          rel, "mode " + std::to_string(mode) + ", the manifest says " + std::to_string(want.mode));
    }
    if (kind == EntryType::kSymlink) {
      const char* target = archive_entry_symlink(entry);
      if ((target != nullptr ? target : "") != want.link_target) {
        problems.Add(rel, "symlink target differs from the manifest");
      }
      continue;
    }
    if (kind != EntryType::kFile) continue;
    Sha256 hash;
    bool read_failed = false;
    for (;;) {
      const la_ssize_t n = archive_read_data(in.get(), buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        problems.Add(rel, "unreadable content: " + ArchiveErrorText(in.get()));
        read_failed = true;
        break;
      }
      hash.Update(buffer.data(), static_cast<std::size_t>(n));
      since_check += static_cast<std::uint64_t>(n);
      if (since_check >= kCheckEvery) {
        since_check = 0;
        if (options.should_stop && options.should_stop()) {
          return Fail(Errc::kCancelled, "verification cancelled");
        }
      }
      if (options.progress && source.bytes >= last_progress + kProgressEvery) {
        last_progress = source.bytes;
        options.progress(source.bytes, archive_size);
      }
    }
    if (read_failed) {
      readable = false;
      break;
    }
    result.bytes += hash.bytes();
    if (hash.bytes() != want.size) {
      problems.Add(rel, "size " + std::to_string(hash.bytes()) + ", the manifest says " +
                            std::to_string(want.size));
    } else if (const std::string digest = hash.FinishHex(); digest != want.sha256) {
      problems.Add(rel, "sha256 " + digest + ", the manifest says " + want.sha256);
    }
  }
  if (readable) {
    for (const auto& [path, entry] : expected) {
      if (seen.count(path) == 0) problems.Add(path, "in the manifest but not in the archive");
    }
  }
  if (!source.Drain()) {
    return Fail(Errc::kIo, "cannot read backup " + archive_path.string() + ": " + source.error);
  }
  if (source.bytes != manifest.archive_bytes) {
    problems.Add("archive", "size " + std::to_string(source.bytes) + ", the manifest says " +
                                std::to_string(manifest.archive_bytes));
  } else if (const std::string digest = source.hash.FinishHex();
             digest != manifest.archive_sha256) {
    problems.Add("archive", "sha256 " + digest + ", the manifest says " + manifest.archive_sha256);
  }
  if (!problems.empty()) return Fail(std::move(problems).ToError(archive_path));
  if (options.progress) options.progress(archive_size, archive_size);
  return result;
}

}  // namespace orb::jobs
