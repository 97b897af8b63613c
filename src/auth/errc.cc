#include "auth/errc.h"

#include "util/error_table.h"

namespace mca::auth {
namespace {

// Errors of start-up and of `keys new`: none ends a request, so none has an HTTP answer.
constexpr util::error_row kErrors[] = {
    {errc::unreadable_keys_file, "the keys file cannot be read"},
    {errc::invalid_keys_file, "the keys file is not valid"},
    {errc::invalid_cidr, "not an address or CIDR block"},
    {errc::invalid_key_request, "invalid key request"},
};

}  // namespace

const std::error_category& category() { return util::category_of<kErrors>("auth"); }

}  // namespace mca::auth
