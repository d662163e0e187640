# One static library per folder of daemon/ (purgeq_<folder>), each linked to exactly the folders
# its row of docs/architecture.md's include-rules table allows: the table that
# scripts/check_includes.py holds the #includes to is also what the linker holds the calls to.
#
# A static library links nothing by itself, so each layer also gets a check executable that pulls
# in every object of the layer (--whole-archive) and nothing but its allowed layers: a call into a
# folder the table does not allow is an undefined symbol there, and the build fails.

set(PURGEQ_LAYER_DOC ${CMAKE_SOURCE_DIR}/docs/architecture.md)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PURGEQ_LAYER_DOC})
file(READ ${PURGEQ_LAYER_DOC} _doc)
if(NOT _doc MATCHES "<!-- include-rules -->(.*)<!-- /include-rules -->")
  message(FATAL_ERROR "no include-rules table in ${PURGEQ_LAYER_DOC}")
endif()
set(_table "${CMAKE_MATCH_1}")
string(REPLACE ";" "," _table "${_table}")
string(REPLACE "\n" ";" _lines "${_table}")

# What each layer needs from outside the project, beyond what model/ gives everyone.
set(PURGEQ_EXTERNAL_model PUBLIC Boost::json Boost::headers fmt::fmt Threads::Threads
                          PRIVATE PkgConfig::LIBIDN2)
set(PURGEQ_EXTERNAL_observe PRIVATE PkgConfig::SYSTEMD)
set(PURGEQ_EXTERNAL_config PRIVATE yaml-cpp)
set(PURGEQ_EXTERNAL_io PRIVATE CURL::libcurl)
set(PURGEQ_EXTERNAL_store PRIVATE SQLite::SQLite3 PkgConfig::LIBPQ)
set(PURGEQ_EXTERNAL_cli PRIVATE CLI11::CLI11)

set(PURGEQ_LAYERS)
foreach(_line IN LISTS _lines)
  if(NOT _line MATCHES "^\\| `([a-z_]+)/` \\| ([^|]*) \\|")
    continue()
  endif()
  set(_folder ${CMAKE_MATCH_1})
  set(_cell "${CMAKE_MATCH_2}")
  if(_folder STREQUAL "main")
    continue()  # the three executables
  endif()
  string(REGEX MATCHALL "`[a-z_]+/`" _deps "${_cell}")
  list(TRANSFORM _deps REPLACE "`([a-z_]+)/`" "purgeq_\\1")
  # A single allowed header links its folder when it has code of its own (`http/responses.h`);
  # one that is declarations only (`intake/delivery_view.h`, an interface) links nothing.
  string(REGEX MATCHALL "`[a-z_]+/[a-z_]+\\.h`" _headers "${_cell}")
  foreach(_header IN LISTS _headers)
    string(REGEX REPLACE "`([a-z_]+)/([a-z_]+)\\.h`" "\\1;\\2" _parts "${_header}")
    list(GET _parts 0 _header_folder)
    list(GET _parts 1 _header_name)
    if(EXISTS ${CMAKE_SOURCE_DIR}/daemon/${_header_folder}/${_header_name}.cpp)
      list(APPEND _deps purgeq_${_header_folder})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _deps)
  file(GLOB _sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/daemon/${_folder}/*.cpp)
  if(_folder STREQUAL "store")
    list(APPEND _sources ${PURGEQ_EMBEDDED_SQL})
  elseif(_folder STREQUAL "control")
    list(APPEND _sources ${PURGEQ_EMBEDDED_PAGE})
  endif()
  add_library(purgeq_${_folder} STATIC ${_sources})
  target_include_directories(purgeq_${_folder} PUBLIC ${CMAKE_SOURCE_DIR}/daemon)
  target_link_libraries(purgeq_${_folder} PUBLIC ${_deps} ${PURGEQ_EXTERNAL_${_folder}})
  set(PURGEQ_LAYER_DEPS_${_folder} ${_deps})
  list(APPEND PURGEQ_LAYERS ${_folder})
endforeach()
target_compile_definitions(purgeq_model PUBLIC PURGEQ_VERSION="${PROJECT_VERSION}")

set(_check_main ${CMAKE_BINARY_DIR}/generated/layer_check_main.cpp)
file(WRITE ${_check_main} "int main() { return 0; }\n")
foreach(_folder IN LISTS PURGEQ_LAYERS)
  add_executable(layer_check_${_folder} ${_check_main})
  target_link_libraries(layer_check_${_folder} PRIVATE
    "$<LINK_LIBRARY:WHOLE_ARCHIVE,purgeq_${_folder}>")
endforeach()

# Everything but the executables, for the tests and benchmarks.
add_library(purgeq_core INTERFACE)
list(TRANSFORM PURGEQ_LAYERS PREPEND purgeq_ OUTPUT_VARIABLE _all)
target_link_libraries(purgeq_core INTERFACE ${_all})
