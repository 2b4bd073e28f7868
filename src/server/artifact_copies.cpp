#include "server/artifact_copies.hpp"

#include <algorithm>
#include <exception>
#include <span>
#include <system_error>
#include <utility>

#include "common/log.hpp"
#include "common/random.hpp"

namespace orb::server {

// One copy in progress: its part file, written by the copy's thread and read by downloads up to
// what has been written.
class ArtifactCopies::Copy final : public net::GrowingBody {
 public:
  Copy(std::uint64_t size, std::unique_ptr<net::ReadableFile> reader)
      : size_(size), reader_(std::move(reader)) {}

  std::uint64_t size() const override { return size_; }
  Expected<std::size_t> ReadAt(std::uint64_t offset, char* data, std::size_t length) override {
    return reader_->ReadAt(offset, data, length);
  }
  void WhenReadable(std::uint64_t end, std::function<void(Status)> ready) override {
    Status now = Ok();
    {
      const std::lock_guard lock(mutex_);
      if (!failure_ && end > readable_) {
        waiting_.push_back({end, std::move(ready)});
        return;
      }
      if (failure_) now = Fail(*failure_);
    }
    ready(std::move(now));
  }

  // `bytes` more are in the file, readable.
  void Grew(std::uint64_t bytes) {
    std::vector<std::function<void(Status)>> ready;
    {
      const std::lock_guard lock(mutex_);
      readable_ += bytes;
      auto unready = std::partition(waiting_.begin(), waiting_.end(),
                                    [&](const Waiting& w) { return w.end > readable_; });
      for (auto it = unready; it != waiting_.end(); ++it)
        ready.push_back(std::move(it->ready));
      waiting_.erase(unready, waiting_.end());
    }
    for (auto& then : ready)
      then(Ok());
  }
  // The copy stopped: every wait, now and later, ends with `error`.
  void Failed(const Error& error) {
    std::vector<Waiting> waiting;
    {
      const std::lock_guard lock(mutex_);
      failure_ = error;
      waiting.swap(waiting_);
    }
    for (auto& w : waiting)
      w.ready(Fail(error));
  }

 private:
  struct Waiting {
    std::uint64_t end;
    std::function<void(Status)> ready;
  };
  const std::uint64_t size_;
  const std::unique_ptr<net::ReadableFile> reader_;
  std::mutex mutex_;
  std::uint64_t readable_ = 0;
  std::optional<Error> failure_;
  std::vector<Waiting> waiting_;
};

ArtifactCopies::ArtifactCopies(std::filesystem::path dir, Source source,
                               std::function<void(std::function<void()>)> post, int max_running)
    : dir_(std::move(dir)),
      source_(std::move(source)),
      post_(std::move(post)),
      max_running_(std::max(1, max_running)) {}

void ArtifactCopies::Open(const std::string& sha256, std::function<void(Expected<Body>)> then) {
  std::shared_ptr<Copy> growing;
  {
    const std::lock_guard lock(mutex_);
    auto [entry, inserted] = copies_.try_emplace(sha256);
    if (!inserted && entry->second.copy) {
      growing = entry->second.copy;
    } else {
      entry->second.waiting.push_back(std::move(then));
      if (!inserted) return;
      if (running_ == max_running_) {
        waiting_.push_back(sha256);
        return;
      }
      ++running_;
    }
  }
  if (growing) return then(Body{std::nullopt, std::move(growing)});
  Start(sha256);
}

void ArtifactCopies::Start(const std::string& sha256) {
  post_([this, sha256] {
    try {
      Run(sha256);
    } catch (const std::exception& thrown) {  // an allocation, a filesystem call that throws
      const Error error =
          MakeError(Errc::kInternal, std::string("copying the artifact: ") + thrown.what());
      std::shared_ptr<Copy> copy;  // handed out already: its readers must not wait for ever
      {
        const std::lock_guard lock(mutex_);
        if (auto entry = copies_.find(sha256); entry != copies_.end()) copy = entry->second.copy;
      }
      Answer(sha256, Fail(error));
      if (copy) copy->Failed(error);
    }
    std::string next;
    {
      const std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        --running_;
        return;
      }
      next = std::move(waiting_.front());
      waiting_.pop_front();
    }
    Start(next);
  });
}

void ArtifactCopies::Answer(const std::string& sha256, const Expected<Body>& body) {
  std::vector<std::function<void(Expected<Body>)>> waiting;
  {
    const std::lock_guard lock(mutex_);
    auto entry = copies_.find(sha256);
    if (entry == copies_.end()) return;
    waiting.swap(entry->second.waiting);
    if (!body || !body->growing) {
      copies_.erase(entry);
    } else {
      entry->second.copy = std::static_pointer_cast<Copy>(body->growing);
    }
  }
  for (auto& then : waiting)
    then(body);
}

void ArtifactCopies::Run(const std::string& sha256) {
  const auto final_path = dir_ / sha256;
  // A copy that ended between the caller's look and this one left the file.
  std::error_code ec;
  if (std::filesystem::is_regular_file(final_path, ec)) {
    return Answer(sha256, Body{final_path, nullptr});
  }
  auto size = source_.stat(sha256);
  if (!size) return Answer(sha256, Fail(std::move(size.error())));
  const auto part = dir_ / (".upload-" + RandomHex(8));
  auto io = net::RealFileIo();
  auto writer = io->Create(part);
  if (!writer) return Answer(sha256, Fail(std::move(writer.error())));
  auto reader = io->OpenForReading(part);
  if (!reader) {
    std::filesystem::remove(part, ec);
    return Answer(sha256, Fail(std::move(reader.error())));
  }
  auto copy = std::make_shared<Copy>(*size, std::move(*reader));
  Answer(sha256, Body{std::nullopt, copy});

  Status copied = source_.read(sha256, 0, *size, [&](std::span<const char> bytes) {
    if (auto appended = (*writer)->Append(bytes.data(), bytes.size()); !appended) return appended;
    copy->Grew(bytes.size());
    return Ok();
  });
  if (copied) copied = (*writer)->Close();
  if (copied) {
    std::filesystem::rename(part, final_path, ec);
    if (ec) copied = Fail(Errc::kIo, "cannot cache artifact " + sha256 + ": " + ec.message());
  }
  {
    // New downloads read the file from now on (or start a new copy after a failure).
    const std::lock_guard lock(mutex_);
    copies_.erase(sha256);
  }
  if (!copied) {
    std::filesystem::remove(part, ec);
    GetLogger("fleet-cmdr")
        ->warn("copying artifact {} from the store failed: {}", sha256, copied.error().message);
    return copy->Failed(copied.error());
  }
  GetLogger("fleet-cmdr")->info("artifact {} ({} bytes) cached from the store", sha256, *size);
}

}  // namespace orb::server
