// The embedded registry: the bundled schema is id 1, for every subject. It is what a bare machine
// runs; the same codec and consumer paths as with a real registry see the same framing.
#include "registry/registry.h"

namespace mca::registry {
namespace {

constexpr avro::schema_id kEmbeddedId{1};

class embedded_registry final : public schema_registry {
 public:
  explicit embedded_registry(avro::schema ours) : ours_(std::move(ours)) {}

  util::result<avro::schema_id> value_schema_id() override { return kEmbeddedId; }

  util::result<avro::schema> schema_by_id(avro::schema_id id) override {
    if (id == kEmbeddedId) return ours_;
    return util::error(errc::not_found, "schema id " + std::to_string(id.value) + " is not known");
  }

  util::health health() override {
    util::health h;
    h.ok = true;
    h.status = "ok";
    h.info["kind"] = "embedded";
    h.info["schema_id"] = kEmbeddedId.value;
    return h;
  }

 private:
  const avro::schema ours_;
};

}  // namespace

std::unique_ptr<schema_registry> make_embedded(avro::schema ours) {
  return std::make_unique<embedded_registry>(std::move(ours));
}

}  // namespace mca::registry
