// Errors as values. A module that can fail declares its own `errc` enum, lists its codes in a
// util::table_category (util/error_table.h: message, HTTP status, code string, Retry-After) and
// returns util::result<T>. http::error_response turns any util::error into the JSON error body.
#pragma once

#include <string>
#include <system_error>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace mca::util {

// An error code with a human-readable message for logs and error bodies.
struct error {
  std::error_code code;
  std::string message;

  error() = default;
  error(std::error_code c, std::string m) : code(c), message(std::move(m)) {}
  template <class E, std::enable_if_t<std::is_error_code_enum_v<E>, int> = 0>
  error(E e, std::string m) : code(make_error_code(e)), message(std::move(m)) {}
};

// Thrown by result<T>::value() on an error: only for start-up code where failure is fatal.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

}  // namespace mca::util
