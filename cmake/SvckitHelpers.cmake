# Project-wide helpers: warnings, sanitizers and small target constructors.
add_library(svckit_warnings INTERFACE)
target_compile_options(svckit_warnings INTERFACE -Wall -Wextra -Werror -Wpedantic)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false positives inside coroutine frames of Boost.Asio; and at -O3 (Release) it
  # reports -Wrestrict on ordinary std::string concatenation ("'" + std::string(x) + "'", GCC bug
  # 105329), which made Release builds fail.
  target_compile_options(svckit_warnings INTERFACE -Wno-mismatched-new-delete
    $<$<CONFIG:Release,MinSizeRel>:-Wno-restrict>)
endif()

if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # In a unity batch no .cpp is the main file, so GCC takes file-local types (anonymous namespaces,
  # coroutine-local structs) in class members for header code and warns.
  target_compile_options(svckit_warnings INTERFACE -Wno-subobject-linkage)
endif()

if(SVCKIT_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # Asio uses std::atomic_thread_fence, which GCC's TSan cannot model; it warns on every use.
  target_compile_options(svckit_warnings INTERFACE -Wno-tsan)
endif()

if(SVCKIT_SANITIZE)
  add_compile_options(-fsanitize=${SVCKIT_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${SVCKIT_SANITIZE})
endif()

# svckit_test(NAME SOURCES... [LABELS l] [PROPERTIES p v ...]) : one GoogleTest executable
# registered with CTest (PROPERTIES: more CTest properties of each of its tests).
# SERIAL: the binary's tests measure promised timings (e.g. "unhealthy within 900 ms"); ctest runs
# them alone, never next to a compile-heavy neighbour on a 2-core runner.
# Test code is compiled with SVCKIT_TEST_CODE_FLAGS (default -O0): it is not what ships, and its
# coroutine-heavy fixtures compile in two thirds of the -O2 time (measured on an integration batch:
# 56 s -> 38 s). The library, daemon and examples the tests run keep the build type's flags.
set(SVCKIT_TEST_CODE_FLAGS "-O0" CACHE STRING "Extra compile flags of the test executables (not the code they test)")
function(svckit_test name)
  cmake_parse_arguments(ARG "SERIAL" "" "SOURCES;LABELS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE svckit::testing GTest::gtest GTest::gmock GTest::gtest_main svckit_warnings)
  separate_arguments(test_flags UNIX_COMMAND "${SVCKIT_TEST_CODE_FLAGS}")
  target_compile_options(${name} PRIVATE ${test_flags})
  include(GoogleTest)
  set(serial FALSE)
  if(ARG_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" RUN_SERIAL ${serial} ${ARG_PROPERTIES}
                       DISCOVERY_TIMEOUT 30)
endfunction()
