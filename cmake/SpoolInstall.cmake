# `cmake --install`: spoold and spool in bin/, the client libraries (and the static libraries
# they link) in lib/, their public headers under include/spool/ (included as
# "producer/producer.h", "consumer/consumer.h", ...), and a CMake package, so an application can
#   find_package(Spool REQUIRED)
#   target_link_libraries(app PRIVATE Spool::producer Spool::consumer)
# examples/ is such an application; tests/install_test builds it against an installed tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SPOOL_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/spool)
set(SPOOL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Spool)

# Library target -> exported name (Spool::<name>).
set(SPOOL_EXPORTED_LIBS
    spool_common common spool_proto proto spool_records records
    spool_client client spool_producer producer spool_consumer consumer)
set(SPOOL_INSTALLED_LIBS)
list(LENGTH SPOOL_EXPORTED_LIBS n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 2)
  list(GET SPOOL_EXPORTED_LIBS ${i} target)
  math(EXPR j "${i} + 1")
  list(GET SPOOL_EXPORTED_LIBS ${j} name)
  if(TARGET ${target})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
    list(APPEND SPOOL_INSTALLED_LIBS ${target})
  endif()
endforeach()
install(TARGETS ${SPOOL_INSTALLED_LIBS} EXPORT SpoolTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

foreach(dir common proto log/record client producer consumer)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${dir})
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${SPOOL_INSTALL_INCLUDEDIR}/${dir}
            FILES_MATCHING PATTERN "*.h")
  endif()
endforeach()
install(DIRECTORY ${PROJECT_BINARY_DIR}/proto/ DESTINATION ${SPOOL_INSTALL_INCLUDEDIR}/proto
        FILES_MATCHING PATTERN "*.pb.h" PATTERN "CMakeFiles" EXCLUDE)

install(EXPORT SpoolTargets NAMESPACE Spool:: DESTINATION ${SPOOL_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/SpoolConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/SpoolConfig.cmake
                              INSTALL_DESTINATION ${SPOOL_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/SpoolConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/SpoolConfig.cmake ${PROJECT_BINARY_DIR}/SpoolConfigVersion.cmake
        DESTINATION ${SPOOL_INSTALL_CMAKEDIR})
