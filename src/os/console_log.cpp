#include "os/console_log.hpp"

#include <array>
#include <string>
#include <utility>

namespace orb::os {
namespace {

namespace fs = std::filesystem;

fs::path Numbered(const fs::path& log, int n) {
  return fs::path(log.string() + "." + std::to_string(n));
}

Status CopyFile(Fs& fs, const fs::path& from, const fs::path& to) {
  auto in = fs.Open(from, OpenMode::kRead);
  if (!in) return Fail(std::move(in.error()));
  auto out = fs.Open(to, OpenMode::kCreateOrTruncate);
  if (!out) return Fail(std::move(out.error()));
  std::array<char, 64 * 1024> buffer{};
  for (;;) {
    auto n = fs.Read(*in, buffer);
    if (!n) return Fail(std::move(n.error()));
    if (*n == 0) break;
    if (auto written = fs.Write(*out, std::string_view(buffer.data(), *n)); !written) {
      return written;
    }
  }
  return fs.Close(*out);
}

}  // namespace

Expected<bool> RotateIfLarger(Fs& fs, const fs::path& log, std::uint64_t max_bytes, int keep) {
  if (keep < 1) return Fail(Errc::kInvalidPayload, "log rotation must keep at least one file");
  const std::string context = "rotate " + log.string();
  auto stat = fs.Stat(log);
  if (!stat) {
    if (stat.error().code == Errc::kNotFound) return false;
    return Fail(std::move(stat.error()).WithContext(context));
  }
  if (stat->size <= max_bytes) return false;

  for (int n = keep - 1; n >= 1; --n) {
    auto renamed = fs.Rename(Numbered(log, n), Numbered(log, n + 1));
    if (!renamed && renamed.error().code != Errc::kNotFound) {
      return Fail(std::move(renamed.error()).WithContext(context));
    }
  }
  const fs::path temp = fs::path(Numbered(log, 1).string() + ".tmp");
  auto copied = CopyFile(fs, log, temp);
  if (copied) copied = fs.Rename(temp, Numbered(log, 1));
  if (!copied) {
    (void)fs.Unlink(temp);
    return Fail(std::move(copied.error()).WithContext(context));
  }
  if (auto truncated = fs.Truncate(log, 0); !truncated) {
    return Fail(std::move(truncated.error()).WithContext(context));
  }
  return true;
}

}  // namespace orb::os
