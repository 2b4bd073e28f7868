# One warnings target, linked PRIVATE by every orb target (style.md "Formatting and warnings").
# ORB_WERROR=OFF keeps the warnings but not as errors: the `fuzz` preset builds with clang, whose
# -Wconversion and friends differ from g++'s, which the code is held to.
option(ORB_WERROR "Treat warnings as errors" ON)
add_library(orb_warnings INTERFACE)
if(ORB_WERROR)
  target_compile_options(orb_warnings INTERFACE -Werror)
endif()
target_compile_options(orb_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Woverloaded-virtual -Wsuggest-override -Wconversion -Wno-sign-conversion
  -Wimplicit-fallthrough -Wformat=2)

# g++ 12 at -O2/-O3 reports `"literal" + std::string` as an overlapping memcpy (-Wrestrict): GCC
# bug 105329, a false positive inside libstdc++ that breaks the release build under -Werror.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(orb_warnings INTERFACE -Wno-restrict)
endif()
