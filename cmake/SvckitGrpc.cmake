# gRPC and protobuf (Debian's libgrpc++-dev, protobuf-compiler-grpc): found once, used only by the
# targets that call or serve gRPC (svckit_grpc, svckitd, the demo shop, the gRPC tests and bench).
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++ protobuf)
find_program(SVCKIT_PROTOC protoc REQUIRED)
find_program(SVCKIT_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# svckit_grpc_library(NAME PROTOS a.proto ...): a static library of the messages and gRPC stubs
# generated from proto/<path>.proto, its headers under "<path>.pb.h" / "<path>.grpc.pb.h".
# Generated code is compiled without the project's warnings (it is not ours to fix) and its
# headers are SYSTEM headers for those who include them.
function(svckit_grpc_library name)
  cmake_parse_arguments(ARG "" "" "PROTOS" ${ARGN})
  set(out_dir ${PROJECT_BINARY_DIR}/generated)
  set(sources)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(outputs ${out_dir}/${base}.pb.cc ${out_dir}/${base}.pb.h ${out_dir}/${base}.grpc.pb.cc
                ${out_dir}/${base}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${SVCKIT_PROTOC} --proto_path=${PROJECT_SOURCE_DIR}/proto --cpp_out=${out_dir} --grpc_out=${out_dir}
              --plugin=protoc-gen-grpc=${SVCKIT_GRPC_CPP_PLUGIN} ${PROJECT_SOURCE_DIR}/proto/${proto}
      DEPENDS ${PROJECT_SOURCE_DIR}/proto/${proto}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND sources ${out_dir}/${base}.pb.cc ${out_dir}/${base}.grpc.pb.cc)
  endforeach()
  add_library(${name} STATIC ${sources})
  set_target_properties(${name} PROPERTIES UNITY_BUILD OFF)
  # Installed under include/svckit/proto (cmake/SvckitInstall.cmake), included as "grpc/...".
  target_include_directories(${name} SYSTEM PUBLIC $<BUILD_INTERFACE:${out_dir}>
                                                   $<INSTALL_INTERFACE:include/svckit/proto>)
  target_link_libraries(${name} PUBLIC PkgConfig::GRPCPP)
endfunction()
