#pragma once

// <regex>, for every file that uses it. g++ 12 reports a false -Wmaybe-uninitialized inside
// libstdc++'s <regex> when built with sanitizers (about its internals, not the caller's code), and
// the warning is tied to the header's lines, so the header is included here, once, with the
// warning off: include this instead of <regex>, so that it is never first included unguarded
// (a unity build puts several files into one translation unit).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
