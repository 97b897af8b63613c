#include "registry/registry.h"

#include "util/error_table.h"

namespace mca::registry {
namespace {

// Without a schema id nothing can be produced: every registry error is a passing outage.
constexpr util::error_row kErrors[] = {
    {errc::not_ready, "schema not registered yet", {503, "unavailable", true}},
    {errc::not_found, "schema not found", {503, "unavailable", true}},
    {errc::unreachable, "schema registry unreachable", {503, "unavailable", true}},
    {errc::rejected, "schema registry rejected the request", {503, "unavailable", true}},
};

}  // namespace

const std::error_category& category() { return util::category_of<kErrors>("registry"); }

}  // namespace mca::registry
