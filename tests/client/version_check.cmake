# The version is set once (project VERSION in CMakeLists.txt): the rockspec's name and version,
# collate.VERSION and core.VERSION as loaded, and no copy of the string in the Lua or C sources.
# cmake -DVERSION=x.y.z -DROOT=<source dir> -DLUA=<lua5.4> -P version_check.cmake
file(GLOB rockspecs "${ROOT}/*.rockspec")
list(LENGTH rockspecs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one rockspec at the root, found ${n}: ${rockspecs}")
endif()
get_filename_component(name "${rockspecs}" NAME)
if(NOT name MATCHES "^collate-lua-([0-9.]+)-([0-9]+)\\.rockspec$")
  message(FATAL_ERROR "rockspec name ${name} is not collate-lua-<version>-<revision>.rockspec")
endif()
set(file_version "${CMAKE_MATCH_1}")
set(revision "${CMAKE_MATCH_2}")
if(NOT file_version STREQUAL VERSION)
  message(FATAL_ERROR "rockspec ${name} names version ${file_version}; CMakeLists.txt says ${VERSION}")
endif()
file(READ "${rockspecs}" spec)
if(NOT spec MATCHES "\nversion = \"${VERSION}-${revision}\"")
  message(FATAL_ERROR "${name}: its version field is not \"${VERSION}-${revision}\"")
endif()

execute_process(COMMAND "${LUA}" -e
  "local c = require 'collate'; io.write(c.VERSION, ' ', require('collate.core').VERSION)"
  OUTPUT_VARIABLE loaded RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT loaded STREQUAL "${VERSION} ${VERSION}")
  message(FATAL_ERROR "collate.VERSION, core.VERSION = '${loaded}' (want ${VERSION}) ${err}")
endif()

file(GLOB_RECURSE sources "${ROOT}/lua/*.lua" "${ROOT}/src/core/*.c" "${ROOT}/src/core/*.h")
foreach(f ${sources})
  file(READ "${f}" text)
  string(FIND "${text}" "\"${VERSION}\"" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${f} holds a copy of the version string \"${VERSION}\"")
  endif()
endforeach()
message(STATUS "version ${VERSION}: rockspec ${name}, collate.VERSION and core.VERSION agree")
