# The previous series store and its render adapter: the oracle of unit_store's differential test
# and the baseline of the store benchmarks. Included by tests/ and bench/, defined once.
if(NOT TARGET mca_reference_store)
  add_library(mca_reference_store STATIC
    ${CMAKE_CURRENT_LIST_DIR}/reference_store.cc ${CMAKE_CURRENT_LIST_DIR}/reference_store.h
    ${CMAKE_CURRENT_LIST_DIR}/render_reference.cc ${CMAKE_CURRENT_LIST_DIR}/render_reference.h)
  target_include_directories(mca_reference_store PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
  target_link_libraries(mca_reference_store PUBLIC mca::store mca::exposition)
endif()
