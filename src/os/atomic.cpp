#include "os/atomic.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/numbers.hpp"
#include "common/random.hpp"

namespace orb::os {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kJournalSuffix = ".exchange-journal";
constexpr std::string_view kJournalHeader = "orb-exchange-v1";

fs::path JournalPath(const fs::path& dir, const std::string& a_name) {
  return dir / ("." + a_name + std::string(kJournalSuffix));
}
fs::path ExchangeTempPath(const fs::path& dir, const std::string& a_name) {
  return dir / ("." + a_name + ".exchange-tmp");
}

struct Journal {
  std::string a;
  std::string b;
  std::uint64_t device = 0;
  std::uint64_t inode_a = 0;
  std::uint64_t inode_b = 0;
};

std::string Serialize(const Journal& journal) {
  return std::string(kJournalHeader) + "\n" + journal.a + "\n" + journal.b + "\n" +
         std::to_string(journal.device) + "\n" + std::to_string(journal.inode_a) + "\n" +
         std::to_string(journal.inode_b) + "\n";
}

std::optional<Journal> Parse(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;  // every line ends with '\n'
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() != 6 || lines[0] != kJournalHeader || lines[1].empty() || lines[2].empty()) {
    return std::nullopt;
  }
  const auto device = ParseWholeNumber<std::uint64_t>(lines[3]);
  const auto inode_a = ParseWholeNumber<std::uint64_t>(lines[4]);
  const auto inode_b = ParseWholeNumber<std::uint64_t>(lines[5]);
  if (!device || !inode_a || !inode_b) return std::nullopt;
  return Journal{std::string(lines[1]), std::string(lines[2]), *device, *inode_a, *inode_b};
}

// Which of the two journaled inodes a name holds now.
enum class Holds { kMissing, kA, kB, kOther };

Expected<Holds> WhatIsAt(Fs& fs, const fs::path& path, const Journal& journal) {
  auto stat = fs.Stat(path);
  if (!stat) {
    if (stat.error().code == Errc::kNotFound) return Holds::kMissing;
    return Fail(std::move(stat.error()));
  }
  if (stat->device != journal.device) return Holds::kOther;
  if (stat->inode == journal.inode_a) return Holds::kA;
  if (stat->inode == journal.inode_b) return Holds::kB;
  return Holds::kOther;
}

// Finishes or undoes the exchange of one journal. Returns true when the names end up swapped.
Expected<bool> RecoverOne(Fs& fs, const fs::path& dir, const fs::path& journal_path) {
  auto text = fs.ReadFile(journal_path);
  if (!text) return Fail(std::move(text.error()));
  const auto journal = Parse(*text);
  if (!journal) {
    return Fail(Errc::kIo, "exchange journal " + journal_path.string() + " is corrupt");
  }
  const fs::path a = dir / journal->a;
  const fs::path b = dir / journal->b;
  const fs::path tmp = ExchangeTempPath(dir, journal->a);
  auto at_a = WhatIsAt(fs, a, *journal);
  if (!at_a) return Fail(std::move(at_a.error()));
  auto at_b = WhatIsAt(fs, b, *journal);
  if (!at_b) return Fail(std::move(at_b.error()));
  auto at_tmp = WhatIsAt(fs, tmp, *journal);
  if (!at_tmp) return Fail(std::move(at_tmp.error()));

  bool swapped = false;
  if (*at_a == Holds::kA && *at_b == Holds::kB && *at_tmp == Holds::kMissing) {
    swapped = false;  // no rename happened
  } else if (*at_a == Holds::kMissing && *at_b == Holds::kB && *at_tmp == Holds::kA) {
    if (auto undone = fs.Rename(tmp, a); !undone) return Fail(std::move(undone.error()));
    swapped = false;  // only a -> tmp happened: undo it
  } else if (*at_a == Holds::kB && *at_b == Holds::kMissing && *at_tmp == Holds::kA) {
    if (auto done = fs.Rename(tmp, b); !done) return Fail(std::move(done.error()));
    swapped = true;  // a -> tmp and b -> a happened: complete it
  } else if (*at_a == Holds::kB && *at_b == Holds::kA && *at_tmp == Holds::kMissing) {
    swapped = true;  // all three renames happened
  } else {
    return Fail(Errc::kIo, "exchange journal " + journal_path.string() +
                               ": the names on disk match no step of the exchange; left for an "
                               "operator");
  }
  if (auto synced = fs.SyncDir(dir); !synced) return Fail(std::move(synced.error()));
  if (auto removed = fs.Unlink(journal_path); !removed) return Fail(std::move(removed.error()));
  if (auto synced = fs.SyncDir(dir); !synced) return Fail(std::move(synced.error()));
  return swapped;
}

bool IsJournalName(std::string_view name) {
  return name.size() > kJournalSuffix.size() + 1 && name.front() == '.' &&
         name.substr(name.size() - kJournalSuffix.size()) == kJournalSuffix;
}

bool IsJournalTempName(std::string_view name) {
  return name.front() == '.' &&
         name.find(std::string(kJournalSuffix) + ".tmp-") != std::string_view::npos;
}

}  // namespace

Status WriteFileAtomically(Fs& fs, const fs::path& path, std::string_view data) {
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const fs::path temp = dir / ("." + path.filename().string() + ".tmp-" + RandomHex(6));
  auto file = fs.Open(temp, OpenMode::kCreateNew);
  if (!file) return Fail(std::move(file.error()));
  auto written = fs.Write(*file, data);
  if (written) written = fs.Sync(*file);
  if (written) written = fs.Close(*file);
  if (written) written = fs.Rename(temp, path);
  if (!written) {
    file->Reset();
    (void)fs.Unlink(temp);  // best effort: leftovers are ".tmp-" garbage
    return Fail(std::move(written.error()).WithContext("write " + path.string()));
  }
  if (auto synced = fs.SyncDir(dir); !synced) {
    return Fail(std::move(synced.error()).WithContext("write " + path.string()));
  }
  return Ok();
}

Status SwitchSymlink(Fs& fs, const fs::path& link, const fs::path& target,
                     std::string_view temp_tag) {
  const fs::path dir = link.parent_path().empty() ? fs::path(".") : link.parent_path();
  const std::string tag = temp_tag.empty() ? RandomHex(6) : std::string(temp_tag);
  const fs::path temp = dir / (link.filename().string() + ".tmp-" + tag);
  const std::string context = "switch " + link.string() + " -> " + target.string();
  if (auto removed = fs.Unlink(temp); !removed && removed.error().code != Errc::kNotFound) {
    return Fail(std::move(removed.error()).WithContext(context));
  }
  auto status = fs.Symlink(target, temp);
  if (!status) return Fail(std::move(status.error()).WithContext(context));
  status = fs.Rename(temp, link);
  if (!status) {
    (void)fs.Unlink(temp);
    return Fail(std::move(status.error()).WithContext(context));
  }
  if (auto synced = fs.SyncDir(dir); !synced) {
    return Fail(std::move(synced.error()).WithContext(context));
  }
  return Ok();
}

Status ExchangeDirectories(Fs& fs, const fs::path& a, const fs::path& b) {
  const std::string context = "exchange " + a.string() + " <-> " + b.string();
  const std::string a_name = a.filename().string();
  const std::string b_name = b.filename().string();
  if (a_name.empty() || b_name.empty() || a_name == b_name || a.parent_path() != b.parent_path() ||
      a_name.find('\n') != std::string::npos || b_name.find('\n') != std::string::npos) {
    return Fail(Errc::kInternal, context + ": needs two different names in one directory");
  }
  const fs::path dir = a.parent_path().empty() ? fs::path(".") : a.parent_path();
  const fs::path journal_path = JournalPath(dir, a_name);

  // A journal left by a crash is settled first, so we start from a known state.
  auto pending = Exists(fs, journal_path);
  if (!pending) return Fail(std::move(pending.error()).WithContext(context));
  if (*pending) {
    if (auto recovered = RecoverOne(fs, dir, journal_path); !recovered) {
      return Fail(std::move(recovered.error()).WithContext(context));
    }
  }

  auto exchanged = fs.Exchange(a, b);
  if (!exchanged) return Fail(std::move(exchanged.error()).WithContext(context));
  if (*exchanged == ExchangeResult::kExchanged) {
    if (auto synced = fs.SyncDir(dir); !synced) {
      return Fail(std::move(synced.error()).WithContext(context));
    }
    return Ok();
  }

  // The journaled fallback.
  auto stat_a = fs.Stat(a);
  if (!stat_a) return Fail(std::move(stat_a.error()).WithContext(context));
  auto stat_b = fs.Stat(b);
  if (!stat_b) return Fail(std::move(stat_b.error()).WithContext(context));
  const Journal journal{a_name, b_name, stat_a->device, stat_a->inode, stat_b->inode};
  if (stat_b->device != stat_a->device) {
    return Fail(Errc::kInternal, context + ": the names are on different filesystems");
  }
  if (auto written = WriteFileAtomically(fs, journal_path, Serialize(journal)); !written) {
    return Fail(std::move(written.error()).WithContext(context));
  }
  const fs::path tmp = ExchangeTempPath(dir, a_name);
  Status status = fs.Rename(a, tmp);
  if (status) status = fs.Rename(b, a);
  if (status) status = fs.Rename(tmp, b);
  if (status) status = fs.SyncDir(dir);
  if (status) status = fs.Unlink(journal_path);
  if (status) status = fs.SyncDir(dir);
  if (status) return Ok();

  // Settle at once if the filesystem lets us; otherwise RecoverExchange does it at start-up.
  auto recovered = RecoverOne(fs, dir, journal_path);
  if (recovered && *recovered) return Ok();  // completed and durable after all
  return Fail(std::move(status.error()).WithContext(context));
}

Status RecoverExchange(Fs& fs, const fs::path& dir) {
  auto entries = fs.ReadDir(dir);
  if (!entries) return Fail(std::move(entries.error()).WithContext("recover exchanges"));
  Status result = Ok();
  for (const DirEntry& entry : *entries) {
    if (IsJournalTempName(entry.name)) {
      auto removed = fs.Unlink(dir / entry.name);
      if (!removed && removed.error().code != Errc::kNotFound && result) {
        result = Fail(std::move(removed.error()).WithContext("recover exchanges"));
      }
    } else if (IsJournalName(entry.name)) {
      auto recovered = RecoverOne(fs, dir, dir / entry.name);
      if (!recovered && result) {
        result = Fail(std::move(recovered.error()).WithContext("recover exchanges"));
      }
    }
  }
  return result;
}

Status MakeDirsBelow(Fs& fs, const std::filesystem::path& root, const std::filesystem::path& dir) {
  std::filesystem::path current = root;
  for (const auto& part : dir.lexically_relative(root)) {
    current /= part;
    if (auto made = fs.MakeDir(current); !made && made.error().code != Errc::kAlreadyExists) {
      return made;
    }
  }
  return Ok();
}

}  // namespace orb::os
