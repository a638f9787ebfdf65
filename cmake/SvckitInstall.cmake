include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/svckit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS svckit svckit_asio EXPORT svckitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS svckitd svckit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT svckitTargets NAMESPACE svckit:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)
configure_package_config_file(cmake/svckitConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)
