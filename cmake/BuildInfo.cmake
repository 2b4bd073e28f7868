# cmake -DSOURCE_DIR=dir -DVERSION=x.y.z -DTEMPLATE=build_info.cpp.in -DOUTPUT=build_info.cpp
#       -P BuildInfo.cmake
# Writes the programs' build info (src/main/build_info.hpp): the project version of the top-level
# CMakeLists.txt and the git revision of SOURCE_DIR: its commit (12 hex digits), "-dirty" when
# tracked files differ from it, "unknown" without git or outside a clone (a tarball, or a tarball
# unpacked inside someone else's repository). Run at every build; configure_file rewrites OUTPUT
# only when its text changes, so an unchanged revision recompiles nothing, and a new one
# recompiles one file and relinks the three programs (not the tests: they do not link it).
set(ORB_VERSION "${VERSION}")
set(ORB_REVISION "unknown")
find_program(GIT git)
if(GIT)
  execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --show-toplevel
                  OUTPUT_VARIABLE top RESULT_VARIABLE failed OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(NOT failed)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${SOURCE_DIR}" source)
  endif()
  if(NOT failed AND top STREQUAL source)
    execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE commit RESULT_VARIABLE failed OUTPUT_STRIP_TRAILING_WHITESPACE
                    ERROR_QUIET)
    if(NOT failed AND commit MATCHES "^[0-9a-f]+$")
      set(ORB_REVISION "${commit}")
      execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} status --porcelain --untracked-files=no
                      OUTPUT_VARIABLE changes RESULT_VARIABLE failed ERROR_QUIET)
      if(NOT failed AND NOT changes STREQUAL "")
        string(APPEND ORB_REVISION "-dirty")
      endif()
    endif()
  endif()
endif()
configure_file(${TEMPLATE} ${OUTPUT} @ONLY)
