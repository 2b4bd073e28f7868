# orb_library: one STATIC library per module (module = folder = namespace orb::<module>).
# Sources are the module's *.cpp files, found with CONFIGURE_DEPENDS so adding a file needs no edit here.
function(orb_library name)
  cmake_parse_arguments(ARG "" "DIR" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(sources ${ARG_SOURCES})
  if(ARG_DIR)
    file(GLOB_RECURSE globbed CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
    list(APPEND sources ${globbed})
  endif()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} orb_warnings)
endfunction()

include(GoogleTest)
# orb_test: one gtest binary per module, each test a ctest test with a LABEL (unit|contract|integration).
function(orb_test name)
  cmake_parse_arguments(ARG "" "LABEL;DIR" "SOURCES;DEPS" ${ARGN})
  set(sources ${ARG_SOURCES})
  if(ARG_DIR)
    file(GLOB_RECURSE globbed CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
    list(APPEND sources ${globbed})
  endif()
  add_executable(${name} ${sources})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} orb_test_support GTest::gtest_main GTest::gmock orb_warnings)
  gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60
                       TEST_PREFIX "${name}.")
endfunction()
