#include "transport/transport.h"

#include "util/error_table.h"

namespace mca::transport {
namespace {

// Back-pressure and outages: 503 with Retry-After, nothing accepted.
constexpr util::error_row kErrors[] = {
    {errc::queue_full, "transport queue is full", {503, "unavailable", true}},
    {errc::delivery_failed, "delivery failed", {503, "unavailable", true}},
    {errc::timed_out, "delivery timed out", {503, "unavailable", true}},
    {errc::unavailable, "transport unavailable", {503, "unavailable", true}},
};

}  // namespace

const std::error_category& category() { return util::category_of<kErrors>("transport"); }

}  // namespace mca::transport
