# Unity builds: a target's sources are compiled in batches of ORB_UNITY_BATCH files, one TU per
# batch, so the headers they share (CLI11, gtest, Boost.JSON, spdlog) are parsed once per batch
# instead of once per file (docs/build.md). Targets whose files are each a large Beast/Asio TU
# opt out with NO_UNITY: batching them would put minutes of work on one core.
option(ORB_UNITY_BUILD "Compile each library and test binary in batches of sources" ON)
set(ORB_UNITY_BATCH 8 CACHE STRING "Sources per unity batch")
function(orb_unity target)
  if(ORB_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE BATCH
                          UNITY_BUILD_BATCH_SIZE ${ORB_UNITY_BATCH})
    # In a batch every .cpp is #included, so g++ takes a .cpp's pimpl class with members of
    # its own anonymous namespace for a header's, which -Wsubobject-linkage is about.
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
  endif()
endfunction()

# orb_library: one STATIC library per module (module = folder = namespace orb::<module>).
# Sources are the module's *.cpp files, found with CONFIGURE_DEPENDS so adding a file needs no edit here.
function(orb_library name)
  cmake_parse_arguments(ARG "NO_UNITY" "DIR" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(sources ${ARG_SOURCES})
  if(ARG_DIR)
    file(GLOB_RECURSE globbed CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
    list(APPEND sources ${globbed})
  endif()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} orb_warnings)
  if(NOT ARG_NO_UNITY)
    orb_unity(${name})
  endif()
endfunction()

include(GoogleTest)
# orb_test: one gtest binary per module, each test a ctest test with a LABEL (unit|contract|integration).
# FIXTURES: ctest fixtures every test of the binary requires (`postgres`: tests/CMakeLists.txt).
# WHOLE: the binary is one ctest test `<name>` that runs all its cases in one process, for binaries
# of many short tests: a process per case costs more than the case (about 0.3 s of start-up and
# exit in the asan build, 0.04 s in dev; protocol_test's 181 cases take 116 s one process each
# under asan, 2.7 s in one). A failing case is named in the test's output (--gtest_brief).
function(orb_test name)
  cmake_parse_arguments(ARG "NO_UNITY;WHOLE" "LABEL;DIR" "SOURCES;DEPS;FIXTURES" ${ARGN})
  set(sources ${ARG_SOURCES})
  if(ARG_DIR)
    file(GLOB_RECURSE globbed CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
    list(APPEND sources ${globbed})
  endif()
  add_executable(${name} ${sources})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} orb_test_support GTest::gtest_main GTest::gmock orb_warnings)
  if(NOT ARG_NO_UNITY)
    orb_unity(${name})
  endif()
  set(fixtures "")
  if(ARG_FIXTURES)
    set(fixtures FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
  if(ARG_WHOLE)
    add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
    set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} ${fixtures})
    return()
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} ${fixtures} DISCOVERY_TIMEOUT 60
                       TEST_PREFIX "${name}.")
endfunction()
