// archive_stream.hpp: the write side of a backup archive. A tar stream goes in (libarchive's
// output, with the files' contents read straight into it); a zstd file comes out (a frame with
// content checksum per MiB of tar), with the sha256 of every file's contents and of the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace orb::jobs {

struct ArchiveStreamOptions {
  int compression_level = 3;  // zstd level
  int zstd_workers = 0;       // zstd's own worker threads; 0: compress on the stream's thread
};

// Four threads share the work, so that it spreads over every core even where one step dominates
// (many small files: opening and reading; big ones: compression): the caller's thread lays out
// the tar and reads the files into it; one thread hashes each file's contents; one compresses;
// one hashes the compressed bytes and writes them. Pieces of the tar stream (1 MiB) are shared by
// the hasher and the compressor, never copied; bounded queues keep memory at ~30 MiB at most.
//
// Not thread-safe: one producing thread. The first failure of any step ends the stream; error()
// says what it was.
class ArchiveStream {
 public:
  // Writes to `fd` (not owned, left open).
  ArchiveStream(int fd, const ArchiveStreamOptions& options);
  ~ArchiveStream();  // abandons a stream that was not finished
  ArchiveStream(const ArchiveStream&) = delete;
  ArchiveStream& operator=(const ArchiveStream&) = delete;

  bool ok() const;
  std::string error() const;

  // Free space at the end of the stream (at least 64 KiB) to read a file's contents into; pass
  // what was read to Write() (through libarchive) and it joins the stream without a copy. Empty
  // after a failure.
  std::span<char> Room();

  // Declares the next `size` bytes written as contents of file `slot` (`last`: its final ones;
  // a file of zero bytes is one call with size 0 and last). Slots are small numbers (indexes),
  // each file's its own.
  void ExpectContent(std::size_t slot, std::size_t size, bool last);
  // Bytes declared by ExpectContent() and not written yet.
  std::size_t expected() const;

  // Appends bytes to the stream; false after a failure.
  bool Write(const void* data, std::size_t size);

  // Waits until every byte is compressed, hashed and written; false on failure.
  bool Finish();

  // After a successful Finish(): the compressed file's size and sha256, and every slot's sha256
  // (lower-case hex; empty for a slot that got no ExpectContent()).
  std::uint64_t archive_bytes() const;
  std::string ArchiveSha256Hex();
  std::vector<std::string> TakeFileDigests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::jobs
