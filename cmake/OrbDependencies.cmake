# Every third-party library comes from Debian 12's packages (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(tl-expected REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(zstd REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
# Howard Hinnant's date/tz (libhowardhinnant-date-dev): date::date-tz is Debian's libdate-tz.so,
# built with USE_OS_TZDB=1 (it reads the system's /usr/share/zoneinfo, package tzdata), which the
# imported target passes on with ONLY_C_LOCALE=1 and HAS_STRING_VIEW=1 so that headers and library
# agree. Debian ships no static archive: only orb_orchestration links it, never the static agent.
find_package(date REQUIRED CONFIG)
if(ORB_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(ORB_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# fmt, spdlog and toml++ have no static archive in Debian, and their shared libraries would load
# the shared libstdc++ into a statically linked program (orb_link_statically below). Their
# compiled parts are built once here, from Debian's own headers (cmake/deps/*.cpp), for every
# program: orb::fmt, orb::spdlog, orb::toml.
set(orb_deps_dir ${CMAKE_CURRENT_LIST_DIR}/deps)
add_library(orb_ext_fmt STATIC ${orb_deps_dir}/fmt.cpp)
target_include_directories(orb_ext_fmt SYSTEM PUBLIC
  $<TARGET_PROPERTY:fmt::fmt-header-only,INTERFACE_INCLUDE_DIRECTORIES>)
add_library(orb::fmt ALIAS orb_ext_fmt)

add_library(orb_ext_spdlog STATIC ${orb_deps_dir}/spdlog.cpp)
target_include_directories(orb_ext_spdlog SYSTEM PUBLIC
  $<TARGET_PROPERTY:spdlog::spdlog_header_only,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_definitions(orb_ext_spdlog PUBLIC SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL)
target_link_libraries(orb_ext_spdlog PUBLIC orb::fmt Threads::Threads)
add_library(orb::spdlog ALIAS orb_ext_spdlog)

add_library(orb_ext_toml STATIC ${orb_deps_dir}/tomlplusplus.cpp)
target_include_directories(orb_ext_toml SYSTEM PUBLIC
  $<TARGET_PROPERTY:tomlplusplus::tomlplusplus,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_definitions(orb_ext_toml PUBLIC TOML_HEADER_ONLY=0)
add_library(orb::toml ALIAS orb_ext_toml)

# orb_dependency(<name> SHARED <targets>... STATIC <archives or -l flags>...) defines orb::<name>:
# a program links the SHARED targets (Debian's .so files), unless orb_link_statically() marked it,
# then it links the STATIC archives and what they need in turn, spelled out here. Modules are
# compiled once, against SHARED's headers and definitions, for both kinds of program.
function(orb_dependency name)
  cmake_parse_arguments(ARG "" "" "SHARED;STATIC" ${ARGN})
  set(archives "")
  foreach(item IN LISTS ARG_STATIC)
    if(item MATCHES "^-")
      list(APPEND archives ${item})
    else()
      find_library(ORB_STATIC_${item} NAMES lib${item}.a REQUIRED)
      list(APPEND archives ${ORB_STATIC_${item}})
    endif()
  endforeach()
  add_library(orb_ext_${name} INTERFACE)
  foreach(target IN LISTS ARG_SHARED)
    target_include_directories(orb_ext_${name} SYSTEM INTERFACE
      $<TARGET_PROPERTY:${target},INTERFACE_INCLUDE_DIRECTORIES>)
  endforeach()
  # $<TARGET_PROPERTY:ORB_STATIC_LINK> is read on the program being linked (the "head" target).
  string(REPLACE ";" "$<SEMICOLON>" archives "${archives}")
  string(REPLACE ";" "$<SEMICOLON>" shared "${ARG_SHARED}")
  target_link_libraries(orb_ext_${name} INTERFACE
    "$<IF:$<BOOL:$<TARGET_PROPERTY:ORB_STATIC_LINK>>,${archives},${shared}>")
  add_library(orb::${name} ALIAS orb_ext_${name})
endfunction()

orb_dependency(openssl SHARED OpenSSL::SSL OpenSSL::Crypto STATIC ssl crypto -pthread)
orb_dependency(crypto SHARED OpenSSL::Crypto STATIC crypto -pthread)
orb_dependency(boost_json SHARED Boost::json STATIC boost_json boost_container)
orb_dependency(boost_url SHARED Boost::url STATIC boost_url)
orb_dependency(sqlite3 SHARED SQLite::SQLite3 STATIC sqlite3 -lm z)
orb_dependency(zstd SHARED zstd::libzstd_shared STATIC zstd -pthread)
# Debian's libarchive.a needs these (pkg-config --static libarchive), but not libxml2 (xar): the
# agent reads only tar and zip. lz4 has no .a in Debian: by soname, dropped by --as-needed as long
# as no lz4 filter is called. libacl.a comes from libacl1-dev; the shared libacl cost 0.3 MiB.
orb_dependency(libarchive SHARED LibArchive::LibArchive
  STATIC archive nettle lzma zstd bz2 z acl -l:liblz4.so.1)

# libsystemd has no .a in Debian. A statically linked program gets cmake/deps/systemd_on_demand.cpp
# in its place, which loads libsystemd.so.0 at the first sd-bus call (os::SystemdUnit): an idle
# agent without systemd-unit instances never loads it and its six libraries (1.4 MiB resident).
add_library(orb_ext_systemd_on_demand STATIC ${orb_deps_dir}/systemd_on_demand.cpp)
target_include_directories(orb_ext_systemd_on_demand SYSTEM PRIVATE ${SYSTEMD_INCLUDE_DIRS})
get_target_property(orb_systemd_libraries PkgConfig::SYSTEMD INTERFACE_LINK_LIBRARIES)
string(REPLACE ";" "$<SEMICOLON>" orb_systemd_libraries "${orb_systemd_libraries}")
set_property(TARGET PkgConfig::SYSTEMD PROPERTY INTERFACE_LINK_LIBRARIES
  "$<IF:$<BOOL:$<TARGET_PROPERTY:ORB_STATIC_LINK>>,orb_ext_systemd_on_demand,${orb_systemd_libraries}>")

# orb_link_statically(<program>): link <program> against the static archives of orb_dependency()
# and the static libstdc++, so that only the code it runs is paged in and the loader relocates no
# shared C++ libraries (orb-jobs-agent's idle memory target of 8 MB; docs/benchmarks.md).
# glibc (libc, libm) stays shared.
function(orb_link_statically target)
  set_property(TARGET ${target} PROPERTY ORB_STATIC_LINK ON)
  # pack-relative-relocs (DT_RELR, glibc >= 2.36): the PIE's relocations take 8 KiB instead of
  # 0.7 MiB of pages read at every start.
  # GNU ld, also where ORB_FAST_LINKER chose lld (cmake/OrbLinker.cmake): the last -fuse-ld wins.
  target_link_options(${target} PRIVATE -fuse-ld=bfd -static-libstdc++ -static-libgcc LINKER:--gc-sections
                      LINKER:-O1 LINKER:--as-needed LINKER:-z,pack-relative-relocs)
endfunction()
