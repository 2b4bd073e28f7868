#pragma once

// The disk side of the HTTP server's file bodies (streamed uploads, file responses): the seam a
// test replaces to make the disk slow, stuck or failing (a fake at the edge). HttpServer calls it
// only on its file pool's threads, never on an event loop, so a slow disk delays the transfer that
// waits for it and nothing else.
//
// Errors: Errc::kNotFound when the file does not exist, Errc::kIo otherwise; the message names the
// operation, the path and the errno text. Thread-safety: a FileIo is called from any thread; one
// ReadableFile or WritableFile is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include "common/expected.hpp"

namespace orb::net {

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // The size when the file was opened (fstat).
  virtual std::uint64_t size() const = 0;
  // Reads up to `length` bytes at `offset` into `data`; 0 at the end of the file.
  virtual Expected<std::size_t> ReadAt(std::uint64_t offset, char* data, std::size_t length) = 0;
};

// A response body whose bytes become readable from the front over time: a file still being
// copied here (HttpResponse::growing). size() is its final size; ReadAt reads bytes that are
// readable already. Thread-safety: WhenReadable from any thread; ReadAt as ReadableFile's.
class GrowingBody : public ReadableFile {
 public:
  // Calls `ready` once, from any thread (possibly before returning), with Ok() when the bytes
  // before `end` are readable, or with the failure that stopped the body growing.
  virtual void WhenReadable(std::uint64_t end, std::function<void(Status)> ready) = 0;
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes without reporting
  // Appends all of `data`.
  virtual Status Append(const char* data, std::size_t length) = 0;
  // Closes, reporting a failed close (delayed write errors).
  virtual Status Close() = 0;
};

class FileIo {
 public:
  virtual ~FileIo() = default;
  virtual Expected<std::unique_ptr<ReadableFile>> OpenForReading(
      const std::filesystem::path& path) = 0;
  // Creates `path` (or truncates it), mode 0600.
  virtual Expected<std::unique_ptr<WritableFile>> Create(const std::filesystem::path& path) = 0;
};

// The real file system (open, fstat, pread, write, close). Stateless; shared.
std::shared_ptr<FileIo> RealFileIo();

// fsync of a file or a directory by path: the server's durable writes (an artifact fsynced before
// its rename into place, then its directory) without a dependency on os/. Blocking: call it on a
// worker. Errors as above.
Status SyncPath(const std::filesystem::path& path);

}  // namespace orb::net
