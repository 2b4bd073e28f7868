#include "jobs/archive_stream.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include "common/error.hpp"
#include "common/sha256.hpp"

namespace orb::jobs {
namespace {

constexpr std::size_t kChunkSize = std::size_t{1} << 20;      // pieces of the tar stream
constexpr std::size_t kMinRoom = std::size_t{64} << 10;       // smaller tails are handed off first
const std::size_t kOutSize = ZSTD_compressBound(kChunkSize);  // a compressed piece, at most
constexpr std::size_t kQueuedChunks = 8;
constexpr std::size_t kQueuedOut = 4;
constexpr std::uint64_t kWritebackStep = std::uint64_t{8} << 20;

// A piece of the tar stream and where the files' contents are in it.
struct Chunk {
  struct Span {
    std::size_t slot;
    std::size_t offset;
    std::size_t size;
    bool last;
  };
  std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(kChunkSize);
  std::size_t size = 0;
  std::vector<Span> spans;
};
using SharedChunk = std::shared_ptr<const Chunk>;

struct OutBuffer {
  std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(kOutSize);
  std::size_t size = 0;
};

// A bounded queue between two threads. Close(): no more items, Pop() drains what is left;
// Cancel(): everything is dropped and both ends fail from then on.
template <typename T>
class Channel {
 public:
  explicit Channel(std::size_t capacity) : capacity_(capacity) {}

  bool Push(T item) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return items_.size() < capacity_ || cancelled_; });
    if (cancelled_) return false;
    items_.push_back(std::move(item));
    lock.unlock();
    changed_.notify_all();
    return true;
  }

  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !items_.empty() || closed_ || cancelled_; });
    if (cancelled_ || items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return item;
  }

  void Close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    changed_.notify_all();
  }

  void Cancel() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      items_.clear();
    }
    changed_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace

struct ArchiveStream::Impl {
  Impl(int fd_in, const ArchiveStreamOptions& options) : fd(fd_in), ctx(ZSTD_createCCtx()) {
    if (ctx == nullptr) {
      error = "cannot create a zstd context";
      return;
    }
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, options.compression_level);
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);
    if (options.zstd_workers > 0) {
      ZSTD_CCtx_setParameter(ctx, ZSTD_c_nbWorkers, options.zstd_workers);
    }
    hasher = std::thread([this] { HashFiles(); });
    compressor = std::thread([this] { Compress(); });
    writer = std::thread([this] { WriteOut(); });
  }

  ~Impl() {
    if (!finished) Fail("abandoned");
    Join();
    ZSTD_freeCCtx(ctx);
  }

  void Join() {
    for (std::thread* thread : {&hasher, &compressor, &writer}) {
      if (thread->joinable()) thread->join();
    }
  }

  // Keeps the first failure and stops every step.
  void Fail(std::string text) {
    {
      std::lock_guard lock(mutex);
      if (!error.empty()) return;
      error = std::move(text);
    }
    failed.store(true, std::memory_order_release);
    to_hasher.Cancel();
    to_compressor.Cancel();
    to_writer.Cancel();
  }

  bool Failed() const { return failed.load(std::memory_order_acquire) || ctx == nullptr; }

  // Producer side ------------------------------------------------------------------------------

  // Passes the current chunk on (to the hasher only when it holds file contents) and starts one.
  bool HandOff() {
    if (Failed()) return false;
    if (current->size == 0 && current->spans.empty()) return true;
    SharedChunk full = std::exchange(current, std::make_shared<Chunk>());
    if (!full->spans.empty() && !to_hasher.Push(full)) return false;
    return to_compressor.Push(std::move(full));
  }

  void AddSpan(std::size_t size) {
    const std::size_t take = std::min(size, expect_left);
    expect_left -= take;
    current->spans.push_back(
        Chunk::Span{expect_slot, current->size, take, expect_last && expect_left == 0});
  }

  // Hashing thread -----------------------------------------------------------------------------

  void HashFiles() {
    Sha256 hash;
    while (auto chunk = to_hasher.Pop()) {
      for (const Chunk::Span& span : (*chunk)->spans) {
        hash.Update((*chunk)->data.get() + span.offset, span.size);
        if (!span.last) continue;
        if (span.slot >= digests.size()) digests.resize(span.slot + 1);
        digests[span.slot] = hash.FinishHex();
      }
    }
  }

  // Compressing thread -------------------------------------------------------------------------

  // Each piece of the tar stream becomes one zstd frame of its own, compressed in one call:
  // zstd then reads the piece where it is (its streaming mode copies every byte into a window
  // buffer first), and standard tools read concatenated frames as one stream.
  void Compress() {
    while (auto chunk = to_compressor.Pop()) {
      auto out = std::make_unique<OutBuffer>();
      const std::size_t size =
          ZSTD_compress2(ctx, out->data.get(), kOutSize, (*chunk)->data.get(), (*chunk)->size);
      if (ZSTD_isError(size) != 0) return Fail(ZSTD_getErrorName(size));
      out->size = size;
      if (!to_writer.Push(std::move(out))) return;
    }
    if (!Failed()) to_writer.Close();
  }

  // Writing thread -----------------------------------------------------------------------------

  void WriteOut() {
    while (auto out = to_writer.Pop()) {
      const OutBuffer& buffer = **out;
      archive_hash.Update(buffer.data.get(), buffer.size);
      std::size_t done = 0;
      while (done < buffer.size) {
        const ssize_t n = ::write(fd, buffer.data.get() + done, buffer.size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Fail(ErrnoText(errno));
        done += static_cast<std::size_t>(n);
      }
      bytes += buffer.size;
      // Start writeback every few MiB, so that the fsync before the commit finds little left
      // to flush and the disk works while the rest is compressed.
      if (bytes - flushed >= kWritebackStep) {
        ::sync_file_range(fd, static_cast<off_t>(flushed), static_cast<off_t>(bytes - flushed),
                          SYNC_FILE_RANGE_WRITE);
        flushed = bytes;
      }
    }
  }

  const int fd;
  std::vector<std::string> digests;  // by slot; written by the hasher, read after Join()
  ZSTD_CCtx* ctx;                    // used by the compressor only
  Sha256 archive_hash;               // written by the writer, read after Join()
  std::uint64_t bytes = 0;           // likewise
  std::uint64_t flushed = 0;

  // The producer's state.
  std::shared_ptr<Chunk> current = std::make_shared<Chunk>();
  std::size_t expect_slot = 0;
  std::size_t expect_left = 0;
  bool expect_last = false;
  bool finished = false;

  mutable std::mutex mutex;
  std::string error;  // the first failure
  std::atomic<bool> failed{false};
  Channel<SharedChunk> to_hasher{kQueuedChunks};
  Channel<SharedChunk> to_compressor{kQueuedChunks};
  Channel<std::unique_ptr<OutBuffer>> to_writer{kQueuedOut};
  std::thread hasher;  // last: they start once everything above exists
  std::thread compressor;
  std::thread writer;
};

ArchiveStream::ArchiveStream(int fd, const ArchiveStreamOptions& options)
    : impl_(std::make_unique<Impl>(fd, options)) {}

ArchiveStream::~ArchiveStream() = default;

bool ArchiveStream::ok() const {
  return !impl_->Failed();
}

std::string ArchiveStream::error() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->error;
}

std::span<char> ArchiveStream::Room() {
  if (impl_->Failed()) return {};
  Chunk& chunk = *impl_->current;
  if (kChunkSize - chunk.size < kMinRoom && !impl_->HandOff()) return {};
  Chunk& now = *impl_->current;
  return {now.data.get() + now.size, kChunkSize - now.size};
}

void ArchiveStream::ExpectContent(std::size_t slot, std::size_t size, bool last) {
  impl_->expect_slot = slot;
  impl_->expect_left = size;
  impl_->expect_last = last;
  if (size == 0 && last) impl_->AddSpan(0);
}

std::size_t ArchiveStream::expected() const {
  return impl_->expect_left;
}

bool ArchiveStream::Write(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    if (impl_->Failed()) return false;
    Chunk& chunk = *impl_->current;
    const std::size_t n = std::min(size, kChunkSize - chunk.size);
    char* tail = chunk.data.get() + chunk.size;
    // Contents read into Room() are already in place.
    if (bytes != tail) std::memcpy(tail, bytes, n);
    if (impl_->expect_left > 0) impl_->AddSpan(n);
    chunk.size += n;
    bytes += n;
    size -= n;
    if (chunk.size == kChunkSize && !impl_->HandOff()) return false;
  }
  return !impl_->Failed();
}

bool ArchiveStream::Finish() {
  if (!impl_->HandOff()) return false;
  impl_->to_hasher.Close();
  impl_->to_compressor.Close();
  impl_->Join();
  impl_->finished = true;
  return ok();
}

std::uint64_t ArchiveStream::archive_bytes() const {
  return impl_->bytes;
}

std::string ArchiveStream::ArchiveSha256Hex() {
  return impl_->archive_hash.FinishHex();
}

std::vector<std::string> ArchiveStream::TakeFileDigests() {
  return std::move(impl_->digests);
}

}  // namespace orb::jobs
