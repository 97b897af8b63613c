// Internal to src/avro: whether an avro-c schema is the Metric record this module reads.
#pragma once

#include <optional>
#include <string>

#include <avro.h>

namespace mca::avro::detail {

// Field names and types of the Metric record, in order.
inline constexpr const char* metric_field_names[] = {"name", "value", "timestamp", "tags",
                                                     "profileId"};

// The v2 record's last field, after metric_field_names.
inline constexpr const char* metric_type_field_name = "type";

// nullopt when `s` is a record with exactly the fields name:string, value:double,
// timestamp:long, tags:map<string>, profileId:string in that order (typed: and then
// type:string); otherwise what is wrong, in words fit for a start-up error.
std::optional<std::string> metric_shape_problem(avro_schema_t s, bool typed = false);

// Whether `s` is a record with a field `type` (the v2 shape, or any writer carrying the type).
bool has_type_field(avro_schema_t s);

}  // namespace mca::avro::detail
