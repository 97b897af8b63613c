// The embedded registry: the bundled schemas are ids 1 (v1) and 2 (v2), for every subject. It is
// what a bare machine runs; the same codec and consumer paths as with a real registry see the same
// framing.
#include "registry/registry.h"

namespace mca::registry {
namespace {

class embedded_registry final : public schema_registry {
 public:
  embedded_registry(avro::schema v1, avro::schema v2) : v1_(std::move(v1)), v2_(std::move(v2)) {}

  util::result<avro::schema_id> schema_id(avro::wire_schema w) override {
    return w == avro::wire_schema::v1 ? kEmbeddedV1Id : kEmbeddedV2Id;
  }

  util::result<avro::schema> schema_by_id(avro::schema_id id) override {
    if (id == kEmbeddedV1Id) return v1_;
    if (id == kEmbeddedV2Id) return v2_;
    return util::error(errc::not_found, "schema id " + std::to_string(id.value) + " is not known");
  }

  util::health health() override {
    util::health h;
    h.ok = true;
    h.status = "ok";
    h.info["kind"] = "embedded";
    h.info["schema_id"] = kEmbeddedV1Id.value;
    h.info["typed_schema_id"] = kEmbeddedV2Id.value;
    return h;
  }

 private:
  const avro::schema v1_;
  const avro::schema v2_;
};

}  // namespace

std::unique_ptr<schema_registry> make_embedded(avro::schema v1, avro::schema v2) {
  return std::make_unique<embedded_registry>(std::move(v1), std::move(v2));
}

}  // namespace mca::registry
