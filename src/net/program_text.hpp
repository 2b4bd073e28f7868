#pragma once

// Drops this process's page-table entries for its own program text (the executable's code
// segment, not the shared libraries'). Thread-safe; best effort.

#include <cstddef>

namespace orb::net {

// madvise(MADV_DONTNEED) over the executable's PT_LOAD segment with PF_X. The code is a clean,
// read-only file mapping, so nothing is lost: the pages stay in the page cache and the next call
// into them maps them again with a minor fault. What goes is the resident set that code run once
// (TLS set-up and handshake) left behind. Returns the bytes advised, 0 when nothing was (or
// madvise refused). Note: a debugger's software breakpoints in the text are dropped with it.
std::size_t ReleaseProgramText();

}  // namespace orb::net
