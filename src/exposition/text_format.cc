#include "exposition/text_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <span>
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

// Most gauge values are integers or have a few decimals. For those the shortest text that reads
// back as `v` is the integer v * 10^k with the point put back, at the smallest k that round-trips:
// below 2^48 a decimal with at most 3 places round-trips to at most one double, and the one whose
// division lands exactly on `v` is it. std::to_chars' general algorithm costs several times more
// (a third of a scrape's instructions); it stays the oracle in the unit tests and the fallback.
// Writes the short form at `p` (at most 32 bytes) and returns its end, or nullptr when `v` needs
// the general algorithm.
char* short_decimal(double v, char* p) {
  static constexpr double scale[] = {1, 10, 100, 1000};
  static constexpr std::uint64_t iscale[] = {1, 10, 100, 1000};
  const double a = std::fabs(v);
  if (!(a > 0 && a < 1099511627776.0)) return nullptr;  // (0, 2^40); NaN fails too
  for (int k = 0; k <= 3; ++k) {
    const double n = std::nearbyint(a * scale[k]);
    if (n / scale[k] != a) continue;
    const auto digits = static_cast<std::uint64_t>(n);
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
      if (mantissa + 4 < length) return nullptr;
      return std::to_chars(p, p + 32, digits).ptr;
    }
    p = std::to_chars(p, p + 32, digits / iscale[k]).ptr;
    *p++ = '.';
    std::uint64_t fraction = digits % iscale[k];
    for (int i = k - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + fraction % 10);
      fraction /= 10;
    }
    return p + k;
  }
  return nullptr;
}

// Writes append_value's text at `p` (at most kMaxValue bytes) and returns its end.
constexpr std::size_t kMaxValue = 40;
char* put_value(double v, char* p) {
  if (char* end = short_decimal(v, p)) return end;
  const auto put = [&](std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
  };
  if (std::isnan(v)) return put("NaN");
  if (std::isinf(v)) return put(v > 0 ? "+Inf" : "-Inf");
  return std::to_chars(p, p + kMaxValue, v).ptr;
}

// True when `v` needs no escaping as a label value (ASCII without backslash, quote or newline).
bool plain_label_value(std::string_view v) {
  for (unsigned char c : v)
    if (c >= 0x80 || c == '\\' || c == '\n' || c == '"') return false;
  return true;
}

// Writes one family at a time. With app_id the samples go straight to the output after the
// family's HELP/TYPE header, which names the first original name seen; the HELP line needs the
// smallest of the family's, so in the rare family where a later one is smaller the header is
// written again at flush. Without app_id the samples are collected and deduplicated first.
class family_writer {
 public:
  family_writer(bool with_app_id, std::string& out) : with_app_id_(with_app_id), out_(out) {}

  void add(const store::series_view& s) {
    enter(s.exposition_name, s.original_name, s.type);
    if (s.type != model::metric_type::gauge) [[unlikely]] {
      inner_.clear();
      append_inner_labels(s, with_app_id_, inner_);
      if (with_app_id_) {
        append_aggregate(s, s.exposition_name, inner_, out_);
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
      set_app(s.app_id);
      row_app_ = nullptr;  // app_block_ may have changed under a row's app
      gauge_line(s);
    } else {
      sample smp;
      append_labels(s, false, smp.labels);
      smp.value = s.value;
      smp.timestamp_ms = s.timestamp_ms;
      samples_.push_back(std::move(smp));
    }
  }

  // A gauge row of render_walk() (with app_id only). Its names are interned in the store: the
  // same view (data pointer) is the same text, so most rows skip the comparisons.
  void add(const store::gauge_row& r) {
    if (r.exposition_name.data() != row_family_ || r.original_name.data() != row_original_)
        [[unlikely]] {
      enter(r.exposition_name, r.original_name, model::metric_type::gauge);
      row_family_ = r.exposition_name.data();
      row_original_ = r.original_name.data();
    }
    if (r.app_id.data() != row_app_) [[unlikely]] {
      set_app(r.app_id);
      row_app_ = r.app_id.data();
    }
    // name{app_id="…"<label text>} value, the label text as label_text() wrote it (escaped).
    const std::size_t at = out_.size();
    out_.resize(at + r.exposition_name.size() + app_block_.size() + r.label_text.size() + 3 +
                kMaxValue);
    char* p = out_.data() + at;
    const auto put = [&p](std::string_view t) {
      std::memcpy(p, t.data(), t.size());
      p += t.size();
    };
    put(r.exposition_name);
    put(app_block_);
    put(r.label_text);
    *p++ = '}';
    *p++ = ' ';
    p = put_value(r.value, p);
    *p++ = '\n';
    out_.resize(static_cast<std::size_t>(p - out_.data()));
  }

  void flush() {
    row_family_ = nullptr;
    if (name_.empty()) return;
    if (with_app_id_) {
      if (original_changed_) {
        std::string again;
        header(again);
        out_.replace(header_at_, header_end_ - header_at_, again);
      }
    } else {
      header(out_);
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

  // Starts the family `name` when it is not the current one (its header names `original`), else
  // notes `original` when it is smaller than the one the header names.
  void enter(std::string_view name, std::string_view original, model::metric_type type) {
    if (name != name_) {
      flush();
      name_ = name;
      original_ = original;
      type_ = type;  // one family has one type (the store keeps it so)
      if (with_app_id_) {
        header_at_ = out_.size();
        header(out_);
        header_end_ = out_.size();
        original_changed_ = false;
      }
    } else if (original < original_) {
      original_ = original;
      original_changed_ = true;
    }
  }

  // Series arrive grouped by app_id within a family: escape each app_id once per run.
  void set_app(std::string_view app_id) {
    if (app_block_.empty() || app_id != app_) {
      app_ = app_id;
      app_block_ = "{app_id=\"";
      append_label_value(app_id, app_block_);
      app_block_.push_back('"');
    }
  }

  // The family's HELP and TYPE lines, naming original_.
  void header(std::string& to) const {
    if (type_ == model::metric_type::counter) {
      append_family_header(name_ + "_total", original_, type_, to);
    } else {
      append_family_header(name_, original_, type_, to);
    }
  }

  // name{app_id="…",label="…",…} value: room for the line is made once and the bytes are put
  // through a pointer, then the output is cut to what was written (the scrape's hot loop: the
  // appends one by one cost a third of its instructions). A label value that needs escaping
  // takes the appending path for its line.
  void gauge_line(const store::series_view& s) {
    std::size_t bound = s.exposition_name.size() + app_block_.size() + 3 + kMaxValue;
    for (const auto& [name, value] : s.labels) bound += name.size() + value.size() + 4;
    const std::size_t at = out_.size();
    out_.resize(at + bound);
    char* p = out_.data() + at;
    const auto put = [&p](std::string_view t) {
      if (t.empty()) return;
      std::memcpy(p, t.data(), t.size());
      p += t.size();
    };
    put(s.exposition_name);
    put(app_block_);
    for (const auto& [name, value] : s.labels) {
      if (!plain_label_value(value)) [[unlikely]] {
        out_.resize(at);
        gauge_line_escaped(s);
        return;
      }
      *p++ = ',';
      put(name);
      *p++ = '=';
      *p++ = '"';
      put(value);
      *p++ = '"';
    }
    *p++ = '}';
    *p++ = ' ';
    p = put_value(s.value, p);
    *p++ = '\n';
    out_.resize(static_cast<std::size_t>(p - out_.data()));
  }
  void gauge_line_escaped(const store::series_view& s) {
    out_.append(s.exposition_name);
    out_.append(app_block_);
    for (const auto& [name, value] : s.labels) {
      out_.push_back(',');
      out_.append(name);
      out_.append("=\"");
      append_label_value(value, out_);
      out_.push_back('"');
    }
    out_.append("} ");
    append_value(s.value, out_);
    out_.push_back('\n');
  }

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
  bool original_changed_ = false;  // original_ is not the one the header was written with
  std::size_t header_at_ = 0;      // where the family's header is in out_ (with app_id)
  std::size_t header_end_ = 0;
  std::string app_;        // the app_id app_block_ was made for
  std::string app_block_;  // {app_id="<escaped>"
  std::string inner_;      // an aggregate's labels
  model::metric_type type_ = model::metric_type::gauge;
  std::vector<sample> samples_;
  // The views the last gauge row came with (interned in the store: same pointer, same text).
  const char* row_family_ = nullptr;
  const char* row_original_ = nullptr;
  const char* row_app_ = nullptr;
};

// A series' labels as render_walk() keeps them: ,name="escaped value" for each.
void append_label_text(std::span<const store::label_view> labels, std::string& out) {
  for (const auto& [name, value] : labels) {
    out.push_back(',');
    out.append(name);
    out.append("=\"");
    append_label_value(value, out);
    out.push_back('"');
  }
}

class walk_writer final : public store::render_visitor {
 public:
  explicit walk_writer(family_writer& w) : w_(w) {}
  void gauge(const store::gauge_row& row) override { w_.add(row); }
  void series(const store::series_view& view) override { w_.add(view); }

 private:
  family_writer& w_;
};

}  // namespace

void append_value(double v, std::string& out) {
  char buf[kMaxValue];
  out.append(buf, put_value(v, buf));
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
  if (options.app_id_label) {
    walk_writer visit(writer);
    store.render_walk(append_label_text, visit);
  } else {
    store.for_each_sorted([&](const store::series_view& s) { writer.add(s); });
  }
  writer.flush();
}

void render_series(const series_walk& walk, const render_options& options, std::string& out) {
  family_writer writer(options.app_id_label, out);
  walk([&](const store::series_view& s) { writer.add(s); });
  writer.flush();
}

}  // namespace mca::exposition
