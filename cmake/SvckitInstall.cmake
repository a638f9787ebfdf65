include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# One export set per component, so find_package(svckit COMPONENTS core) loads (and demands the
# third-party libraries of) only what was asked for. See cmake/svckitConfig.cmake.in.
set(_svckit_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)
install(DIRECTORY include/svckit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY testing/include/svckit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(component core redis nats amqp postgres svckit testing grpc)
  if(component STREQUAL "core")
    set(_targets svckit_asio svckit_core)
  elseif(component STREQUAL "svckit")
    set(_targets svckit)
  elseif(component STREQUAL "grpc")
    set(_targets svckit_grpc svckit_grpc_health_proto)
  else()
    set(_targets svckit_${component})
  endif()
  install(TARGETS ${_targets} EXPORT svckit-${component}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT svckit-${component} NAMESPACE svckit:: FILE svckit-${component}-targets.cmake
          DESTINATION ${_svckit_cmake_dir})
endforeach()
# The grpc.health.v1 messages and stubs svckit::grpc's headers include.
install(DIRECTORY ${PROJECT_BINARY_DIR}/generated/grpc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/svckit/proto
        FILES_MATCHING PATTERN "*.h")
install(TARGETS svckitd svckit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
configure_package_config_file(cmake/svckitConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
  INSTALL_DESTINATION ${_svckit_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
        DESTINATION ${_svckit_cmake_dir})
