#pragma once

#include <filesystem>
#include <string_view>

#include "common/expected.hpp"
#include "os/fs.hpp"

namespace orb::os {

// Crash-safe filesystem changes over the Fs seam (job-types.md §1 "File writes", ACTIVATE_BUILD,
// RESTORE_BACKUP's swap). Each helper leaves the tree "as before" or "as asked", never in between,
// whichever call fails and wherever the process dies; the only leftovers are temp names starting
// with "." that RecoverExchange (and the handlers' start-up garbage collection) remove.
// Thread-safety: none of its own; callers hold the job-types.md §3 locks for the paths involved.

// Creates `dir` and every missing directory between `root` (which must exist) and it, one
// MakeDir each, so every step goes through the Fs seam; directories that exist already are fine.
// `dir` must be `root` or below it.
Status MakeDirsBelow(Fs& fs, const std::filesystem::path& root, const std::filesystem::path& dir);

// Replaces `path` with `data`: writes "<dir>/.<name>.tmp-<random>", fsyncs and closes it, renames
// it over `path` and fsyncs the directory. On failure before the rename the temp file is removed
// and `path` is unchanged; a failure of the final directory fsync is reported although the new
// content is already in place.
Status WriteFileAtomically(Fs& fs, const std::filesystem::path& path, std::string_view data);

// Makes `link` a symlink to `target`, replacing an existing link atomically: symlink
// "<link>.tmp-<temp_tag>" (a stale one is removed first), rename it over `link`, fsync the
// directory. `temp_tag` names the temp link (ACTIVATE_BUILD passes the runId); empty: random.
Status SwitchSymlink(Fs& fs, const std::filesystem::path& link, const std::filesystem::path& target,
                     std::string_view temp_tag = {});

// Swaps the names `a` and `b` (two existing entries of the same directory, usually directories).
// Uses renameat2(RENAME_EXCHANGE). When the filesystem does not support it, falls back to three
// renames (a -> tmp, b -> a, tmp -> b) under a journal "<dir>/.<a>.exchange-journal", written
// atomically before the first rename and removed after the last. The journal records the inodes
// of a and b, so recovery can tell from the names on disk how far the renames got: before the
// second rename it undoes, after it completes. A failure part-way is recovered at once when the
// filesystem lets us; the Status is success only when the swap is complete and durable (fsync of
// the directory), and after a failure the names are as before (or, if the failure came after
// the swap, swapped) once RecoverExchange has run.
// Errors: Errc::kInternal when a and b are not two names of one directory; Fs errors otherwise.
Status ExchangeDirectories(Fs& fs, const std::filesystem::path& a, const std::filesystem::path& b);

// Completes or undoes every exchange of `dir` left half-done by a crash (call at start-up, before
// touching `dir`), and removes journal temp files. Returns an error (and keeps the journal) when
// the names on disk match no step of the journal, for an operator to look at.
Status RecoverExchange(Fs& fs, const std::filesystem::path& dir);

}  // namespace orb::os
