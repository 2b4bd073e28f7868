# ccache, when it is installed (scripts/install-deps.sh installs it), for every C++ compile.
# CCACHE_BASEDIR makes the paths under the source tree relative in what ccache hashes, and
# CCACHE_NOHASHDIR leaves the build directory out of the hash even though objects carry debug
# line tables, so a second clone of the repository in another folder (a CI run, a git worktree)
# reuses the first one's objects. ORB_CCACHE=OFF, or a CMAKE_CXX_COMPILER_LAUNCHER of your own,
# turns this off.
option(ORB_CCACHE "Compile through ccache when it is installed" ON)
if(ORB_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(ORB_CCACHE_PROGRAM ccache)
  if(ORB_CCACHE_PROGRAM)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        /usr/bin/env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_NOHASHDIR=1
        CCACHE_SLOPPINESS=include_file_ctime,include_file_mtime ${ORB_CCACHE_PROGRAM})
  endif()
endif()
