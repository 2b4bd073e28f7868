#pragma once

// <regex>, for every file that uses it. g++ 12 reports a false -Wmaybe-uninitialized inside
// libstdc++'s <regex> when built with sanitizers (about its internals, not the caller's code), and
// the warning is tied to the header's lines, so the header is included here, once, with the
// warning off: include this instead of <regex>, so that it is never first included unguarded
// (a unity build puts several files into one translation unit).
// clang (the fuzz build) has no such warning and would warn about the unknown name.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#else
#include <regex>
#endif

#include <string_view>

#include "common/expected.hpp"

namespace orb {

// Compiles `pattern` as a regex of std::regex's default grammar (ECMAScript). What libstdc++ 12
// compiles with undefined behaviour is refused first: a back reference (\N) or a repeat count
// ({N}, {N,M}) of more than 9 digits overflows a long while it is read
// (_Compiler::_M_cur_int_value; found by tests/fuzz/create_job_fuzz.cpp). Errors are
// kInvalidPayload with what is wrong; the caller says whose pattern it was.
Expected<std::regex> CompileRegex(std::string_view pattern);

}  // namespace orb
