// A module's std::error_category, written once. A module lists its codes in a table of rows --
// enumerator, message, and what a client is told when the error ends a request -- and hands the
// table to table_category. The answer is an HTTP status as a plain number, the stable `code`
// string of the JSON error body and whether the answer carries Retry-After: numbers and strings,
// so a module below `http` states its answers without depending on it. A row without an answer is
// an internal error (500 "internal"). http::error_response reads the answer (answer_for) and
// builds the one JSON envelope; docs/ARCHITECTURE.md "Where each concern lives".
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace mca::util {

struct error_answer {
  unsigned status = 500;
  std::string_view code = "internal";
  bool retry_after = false;  // 503 and 429 answers say when to try again

  bool operator==(const error_answer&) const = default;
};

struct error_row {
  int value;
  std::string_view message;  // std::error_code::message()
  error_answer answer;

  template <class E>
  requires std::is_enum_v<E>
  constexpr error_row(E e, std::string_view m, error_answer a = {})
      : value(static_cast<int>(e)), message(m), answer(a) {}
};

class table_category final : public std::error_category {
 public:
  constexpr table_category(const char* name, std::span<const error_row> rows) noexcept
      : name_(name), rows_(rows) {}
  const char* name() const noexcept override { return name_; }
  // The row's message; "unknown <name> error" for a value no row lists.
  std::string message(int ev) const override;
  // The row of `ev`, or null.
  const error_row* find(int ev) const noexcept;
  std::span<const error_row> rows() const noexcept { return rows_; }

 private:
  const char* name_;
  std::span<const error_row> rows_;
};

// The category of a table: one instance per table. In a module's .cc:
//   constexpr util::error_row kErrors[] = {{errc::x, "…", {503, "unavailable", true}}, …};
//   const std::error_category& category() { return util::category_of<kErrors>("name"); }
template <const auto& Rows>
const std::error_category& category_of(const char* name) noexcept {
  static const table_category c(name, Rows);
  return c;
}

// What a client is told for `ec`: its row's answer; 500 "internal" for a code of a category that
// is not a table or a value its table does not list.
error_answer answer_for(const std::error_code& ec) noexcept;

}  // namespace mca::util
