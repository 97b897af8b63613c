# API docs built into the binary: api/openapi.yaml -> openapi.json (PyYAML) and the Swagger UI
# files of npm swagger-ui-dist (pinned by tools/swagger-ui/package-lock.json), generated as
# constant data into the library mca_docs_assets, which mca_api links (src/api/docs_routes.cc).
#
# Needs python3 with PyYAML (Debian: python3-yaml) and npm. npm runs only when the lock file
# changes or the build dir is new, with a package cache under .cache/npm, so once the cache is
# filled the build works offline.

set(MCA_DOCS_GEN_DIR ${CMAKE_BINARY_DIR}/generated)
set(MCA_SWAGGER_UI_DIR ${CMAKE_BINARY_DIR}/swagger-ui-npm)
set(MCA_NPM_CACHE ${CMAKE_SOURCE_DIR}/.cache/npm CACHE PATH "npm package cache for swagger-ui-dist")

# The distro python first: it is where python3-yaml installs PyYAML (a pyenv or venv python
# on PATH may not have it).
find_package(Python3 COMPONENTS Interpreter)
set(mca_python_candidates /usr/bin/python3)
if(Python3_EXECUTABLE)
  list(APPEND mca_python_candidates ${Python3_EXECUTABLE})
endif()
unset(MCA_DOCS_PYTHON)
foreach(py IN LISTS mca_python_candidates)
  if(EXISTS ${py})
    execute_process(COMMAND ${py} -c "import yaml" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(MCA_DOCS_PYTHON ${py})
      break()
    endif()
  endif()
endforeach()
if(NOT MCA_DOCS_PYTHON)
  message(FATAL_ERROR "python3 with PyYAML is needed to build /openapi.json (apt-get install python3-yaml)")
endif()
find_program(MCA_NPM npm)
if(NOT MCA_NPM)
  message(FATAL_ERROR "npm is needed to vendor swagger-ui-dist (apt-get install npm)")
endif()

# The pinned version, read from the lock so there is one place to change it.
file(READ ${CMAKE_SOURCE_DIR}/tools/swagger-ui/package-lock.json mca_swagger_lock)
string(JSON MCA_SWAGGER_UI_VERSION GET "${mca_swagger_lock}" packages node_modules/swagger-ui-dist version)

add_custom_command(
  OUTPUT ${MCA_DOCS_GEN_DIR}/openapi.json
  COMMAND ${MCA_DOCS_PYTHON} ${CMAKE_SOURCE_DIR}/tools/openapi_to_json.py
          ${CMAKE_SOURCE_DIR}/api/openapi.yaml ${MCA_DOCS_GEN_DIR}/openapi.json
  DEPENDS ${CMAKE_SOURCE_DIR}/api/openapi.yaml ${CMAKE_SOURCE_DIR}/tools/openapi_to_json.py
  COMMENT "Converting api/openapi.yaml to JSON"
  VERBATIM)

# Installed into the build dir, not the source tree, so several build dirs never race on one
# node_modules. --ignore-scripts: swagger-ui-dist's dependency has an analytics install script.
add_custom_command(
  OUTPUT ${MCA_SWAGGER_UI_DIR}/installed.stamp
  COMMAND ${CMAKE_COMMAND} -E make_directory ${MCA_SWAGGER_UI_DIR}
  COMMAND ${CMAKE_COMMAND} -E copy_if_different
          ${CMAKE_SOURCE_DIR}/tools/swagger-ui/package.json
          ${CMAKE_SOURCE_DIR}/tools/swagger-ui/package-lock.json ${MCA_SWAGGER_UI_DIR}
  COMMAND ${CMAKE_COMMAND} -E env SCARF_ANALYTICS=false
          ${MCA_NPM} ci --prefix ${MCA_SWAGGER_UI_DIR} --cache ${MCA_NPM_CACHE} --prefer-offline
          --ignore-scripts --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${MCA_SWAGGER_UI_DIR}/installed.stamp
  DEPENDS ${CMAKE_SOURCE_DIR}/tools/swagger-ui/package.json
          ${CMAKE_SOURCE_DIR}/tools/swagger-ui/package-lock.json
  COMMENT "Fetching swagger-ui-dist ${MCA_SWAGGER_UI_VERSION} (npm ci, cached)"
  VERBATIM)

add_custom_command(
  OUTPUT ${MCA_DOCS_GEN_DIR}/docs_assets.cc ${MCA_DOCS_GEN_DIR}/docs_assets.h
  COMMAND ${MCA_DOCS_PYTHON} ${CMAKE_SOURCE_DIR}/tools/embed_docs.py
          --dist ${MCA_SWAGGER_UI_DIR}/node_modules/swagger-ui-dist
          --initializer ${CMAKE_SOURCE_DIR}/tools/swagger-ui/swagger-initializer.js
          --openapi ${MCA_DOCS_GEN_DIR}/openapi.json
          --version ${MCA_SWAGGER_UI_VERSION}
          --out-dir ${MCA_DOCS_GEN_DIR}
  DEPENDS ${MCA_DOCS_GEN_DIR}/openapi.json ${MCA_SWAGGER_UI_DIR}/installed.stamp
          ${CMAKE_SOURCE_DIR}/tools/embed_docs.py
          ${CMAKE_SOURCE_DIR}/tools/swagger-ui/swagger-initializer.js
  COMMENT "Embedding openapi.json and Swagger UI ${MCA_SWAGGER_UI_VERSION}"
  VERBATIM)

add_library(mca_docs_assets STATIC ${MCA_DOCS_GEN_DIR}/docs_assets.cc ${MCA_DOCS_GEN_DIR}/docs_assets.h)
target_include_directories(mca_docs_assets PUBLIC ${MCA_DOCS_GEN_DIR})
target_compile_features(mca_docs_assets PUBLIC cxx_std_20)
target_link_libraries(mca_api PRIVATE mca_docs_assets)
