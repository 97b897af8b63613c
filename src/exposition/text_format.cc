#include "exposition/text_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace mca::exposition {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (overlong forms,
// surrogates and code points past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return (byte(i + k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && byte(i + 1) < 0xA0) return 0;  // overlong
    if (c == 0xED && byte(i + 1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && byte(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && byte(i + 1) > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

template <bool escape_quote>
void append_escaped(std::string_view v, std::string& out) {
  std::size_t i = 0;
  while (i < v.size()) {
    // Copy the run of bytes that need nothing in one append.
    std::size_t run = i;
    while (run < v.size()) {
      const auto c = static_cast<unsigned char>(v[run]);
      if (c >= 0x80 || c == '\\' || c == '\n' || (escape_quote && c == '"')) break;
      ++run;
    }
    out.append(v.data() + i, run - i);
    i = run;
    if (i == v.size()) break;
    const char c = v[i];
    if (c == '\\') {
      out.append("\\\\");
      ++i;
    } else if (c == '\n') {
      out.append("\\n");
      ++i;
    } else if (escape_quote && c == '"') {
      out.append("\\\"");
      ++i;
    } else if (const std::size_t n = utf8_sequence(v, i); n != 0) {
      out.append(v.data() + i, n);
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    }
  }
}

// The labels of `s` without braces: app_id (when shown) then its labels.
void append_inner_labels(const store::series_view& s, bool with_app_id, std::string& out) {
  bool first = true;
  if (with_app_id) {
    out.append("app_id=\"");
    append_label_value(s.app_id, out);
    out.push_back('"');
    first = false;
  }
  for (const auto& [name, value] : s.labels) {
    if (!first) out.push_back(',');
    first = false;
    out.append(name);
    out.append("=\"");
    append_label_value(value, out);
    out.push_back('"');
  }
}

// Appends `{app_id="…",label="…",…}` (or nothing when there is no label at all).
void append_labels(const store::series_view& s, bool with_app_id, std::string& out) {
  if (!with_app_id && s.labels.empty()) return;
  out.push_back('{');
  append_inner_labels(s, with_app_id, out);
  out.push_back('}');
}

// `name` is the family's exposed name (a counter's ends in _total).
void append_family_header(std::string_view name, std::string_view original, model::metric_type type,
                          std::string& out) {
  out.append("# HELP ");
  out.append(name);
  out.append(" Client metric: ");
  append_help_text(original, out);
  out.append("\n# TYPE ");
  out.append(name);
  switch (type) {
    case model::metric_type::gauge:
      out.append(" gauge\n");
      break;
    case model::metric_type::counter:
      out.append(" counter\n");
      break;
    case model::metric_type::histogram:
      out.append(" histogram\n");
      break;
  }
}

// The samples of one counter or histogram series. `name` is the family name (client_metric_<n>);
// `inner` the labels without braces (app_id first when shown), possibly empty.
void append_aggregate(const store::series_view& s, std::string_view name, std::string_view inner,
                      std::string& out) {
  const auto sample = [&](std::string_view suffix, std::string_view le, double v) {
    out.append(name);
    out.append(suffix);
    if (!inner.empty() || !le.empty()) {
      out.push_back('{');
      out.append(inner);
      if (!le.empty()) {
        if (!inner.empty()) out.push_back(',');
        out.append("le=\"");
        out.append(le);
        out.push_back('"');
      }
      out.push_back('}');
    }
    out.push_back(' ');
    append_value(v, out);
    out.push_back('\n');
  };
  if (s.type == model::metric_type::counter) {
    sample("_total", {}, s.value);
    return;
  }
  std::string le;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.bounds.size(); ++i) {
    cumulative += s.buckets[i];
    le.clear();
    append_le(s.bounds[i], le);
    sample("_bucket", le, static_cast<double>(cumulative));
  }
  sample("_bucket", "+Inf", static_cast<double>(s.count));
  sample("_sum", {}, s.sum);
  sample("_count", {}, static_cast<double>(s.count));
}

// Collects one family at a time, then writes its HELP/TYPE header (which needs the smallest
// original name of the whole family) followed by its samples.
class family_writer {
 public:
  family_writer(bool with_app_id, std::string& out) : with_app_id_(with_app_id), out_(out) {}

  void add(const store::series_view& s) {
    if (s.exposition_name != name_) {
      flush();
      name_ = s.exposition_name;
      original_ = s.original_name;
      type_ = s.type;  // one family has one type (the store keeps it so)
    } else if (s.original_name < original_) {
      original_ = s.original_name;
    }
    if (s.type != model::metric_type::gauge) [[unlikely]] {
      inner_.clear();
      append_inner_labels(s, with_app_id_, inner_);
      if (with_app_id_) {
        append_aggregate(s, s.exposition_name, inner_, body_);
      } else {
        sample smp;
        smp.labels = inner_;
        smp.timestamp_ms = s.timestamp_ms;
        append_aggregate(s, s.exposition_name, inner_, smp.lines);
        samples_.push_back(std::move(smp));
      }
      return;
    }
    if (with_app_id_) {
      body_.append(s.exposition_name);
      // Series arrive grouped by app_id within a family: escape each app_id once per run.
      if (app_block_.empty() || s.app_id != app_) {
        app_ = s.app_id;
        app_block_ = "{app_id=\"";
        append_label_value(s.app_id, app_block_);
        app_block_.push_back('"');
      }
      body_.append(app_block_);
      for (const auto& [name, value] : s.labels) {
        body_.push_back(',');
        body_.append(name);
        body_.append("=\"");
        append_label_value(value, body_);
        body_.push_back('"');
      }
      body_.push_back('}');
      body_.push_back(' ');
      append_value(s.value, body_);
      body_.push_back('\n');
    } else {
      sample smp;
      append_labels(s, false, smp.labels);
      smp.value = s.value;
      smp.timestamp_ms = s.timestamp_ms;
      samples_.push_back(std::move(smp));
    }
  }

  void flush() {
    if (name_.empty()) return;
    if (type_ == model::metric_type::counter) {
      append_family_header(name_ + "_total", original_, type_, out_);
    } else {
      append_family_header(name_, original_, type_, out_);
    }
    if (with_app_id_) {
      out_.append(body_);
      body_.clear();
    } else {
      write_deduplicated();
    }
    name_.clear();
  }

 private:
  struct sample {
    std::string labels;
    double value = 0;
    std::int64_t timestamp_ms = 0;
    std::string lines;  // an aggregate's samples, written whole
  };

  // Without app_id, series of different apps can print identically: keep the newest of each.
  // Samples arrive ordered by app_id within equal labels, so the stable sort leaves the smallest
  // app_id first among equal timestamps.
  void write_deduplicated() {
    std::stable_sort(samples_.begin(), samples_.end(), [](const sample& a, const sample& b) {
      if (a.labels != b.labels) return a.labels < b.labels;
      return a.timestamp_ms > b.timestamp_ms;
    });
    for (std::size_t i = 0; i < samples_.size(); ++i) {
      if (i > 0 && samples_[i].labels == samples_[i - 1].labels) continue;
      if (!samples_[i].lines.empty()) {
        out_.append(samples_[i].lines);
        continue;
      }
      out_.append(name_);
      out_.append(samples_[i].labels);
      out_.push_back(' ');
      append_value(samples_[i].value, out_);
      out_.push_back('\n');
    }
    samples_.clear();
  }

  const bool with_app_id_;
  std::string& out_;
  std::string name_;
  std::string original_;
  std::string body_;
  std::string app_;        // the app_id app_block_ was made for
  std::string app_block_;  // {app_id="<escaped>"
  std::string inner_;      // an aggregate's labels
  model::metric_type type_ = model::metric_type::gauge;
  std::vector<sample> samples_;
};

}  // namespace

// Most gauge values are integers or have a few decimals. For those the shortest text that reads
// back as `v` is the integer v * 10^k with the point put back, at the smallest k that round-trips:
// below 2^48 a decimal with at most 3 places round-trips to at most one double, and the one whose
// division lands exactly on `v` is it. std::to_chars' general algorithm costs several times more
// (a third of a scrape's instructions); it stays the oracle in the unit tests and the fallback.
bool append_short_decimal(double v, std::string& out) {
  static constexpr double scale[] = {1, 10, 100, 1000};
  static constexpr std::uint64_t iscale[] = {1, 10, 100, 1000};
  const double a = std::fabs(v);
  if (!(a > 0 && a < 1099511627776.0)) return false;  // (0, 2^40); NaN fails too
  for (int k = 0; k <= 3; ++k) {
    const double n = std::nearbyint(a * scale[k]);
    if (n / scale[k] != a) continue;
    const auto digits = static_cast<std::uint64_t>(n);
    char buf[32];
    char* p = buf;
    if (v < 0) *p++ = '-';
    if (k == 0) {
      // std::to_chars prints an integer in scientific form when that is shorter (1e+05).
      std::uint64_t d = digits;
      int length = 0, zeros = 0;
      bool trailing = true;
      for (; d > 0; d /= 10, ++length) {
        if (trailing && d % 10 == 0) {
          ++zeros;
        } else {
          trailing = false;
        }
      }
      const int mantissa = length - zeros == 1 ? 1 : length - zeros + 1;
      if (mantissa + 4 < length) return false;
      p = std::to_chars(p, buf + sizeof buf, digits).ptr;
    } else {
      p = std::to_chars(p, buf + sizeof buf, digits / iscale[k]).ptr;
      *p++ = '.';
      std::uint64_t fraction = digits % iscale[k];
      for (int i = k - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + fraction % 10);
        fraction /= 10;
      }
      p += k;
    }
    out.append(buf, p);
    return true;
  }
  return false;
}

void append_value(double v, std::string& out) {
  if (append_short_decimal(v, out)) return;
  if (std::isnan(v)) {
    out.append("NaN");
  } else if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_le(double v, std::string& out) {
  if (std::isnan(v)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' client libraries write `le`
  // with: the shortest digits that read back as v, in exponent form when the decimal exponent
  // is below -4 or at least 6 ("1e+06", "1.5e-05"), plain otherwise ("2500", "0.025").
  char buf[40];
  const auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view text(buf, static_cast<std::size_t>(sci.ptr - buf));
  const std::size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  if (exponent < -4 || exponent >= 6) {
    out.append(text);
    return;
  }
  const auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, fixed.ptr);
}

void append_label_value(std::string_view v, std::string& out) { append_escaped<true>(v, out); }

void append_help_text(std::string_view v, std::string& out) { append_escaped<false>(v, out); }

void render_series(const store::series_store& store, const render_options& options,
                   std::string& out) {
  family_writer writer(options.app_id_label, out);
  store.for_each_sorted([&](const store::series_view& s) { writer.add(s); });
  writer.flush();
}

void render_series(const series_walk& walk, const render_options& options, std::string& out) {
  family_writer writer(options.app_id_label, out);
  walk([&](const store::series_view& s) { writer.add(s); });
  writer.flush();
}

}  // namespace mca::exposition
