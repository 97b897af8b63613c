#include "api/json_write.h"

#include <array>
#include <charconv>
#include <cmath>

#include <boost/json/serialize.hpp>

namespace mca::api {
namespace {

void write(const boost::json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      out += json_number(v.get_double());
      return;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write(item, out);
      }
      out.push_back(']');
      return;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        out += boost::json::serialize(boost::json::string_view(key));
        out.push_back(':');
        write(item, out);
      }
      out.push_back('}');
      return;
    }
    default:  // null, bool, int64, uint64, string: Boost writes these exactly
      out += boost::json::serialize(v);
      return;
  }
}

}  // namespace

std::string json_number(double d) {
  if (!std::isfinite(d)) return "null";
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  return std::string(buf.data(), end);
}

std::string to_json(const boost::json::value& v) {
  std::string out;
  write(v, out);
  return out;
}

}  // namespace mca::api
