#include "util/error_table.h"

namespace mca::util {

std::string table_category::message(int ev) const {
  if (const auto* row = find(ev)) return std::string(row->message);
  return "unknown " + std::string(name_) + " error";
}

const error_row* table_category::find(int ev) const noexcept {
  for (const auto& row : rows_) {
    if (row.value == ev) return &row;
  }
  return nullptr;
}

error_answer answer_for(const std::error_code& ec) noexcept {
  if (const auto* table = dynamic_cast<const table_category*>(&ec.category())) {
    if (const auto* row = table->find(ec.value())) return row->answer;
  }
  return {};
}

}  // namespace mca::util
