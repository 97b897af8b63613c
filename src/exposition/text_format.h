// Prometheus text exposition (format 0.0.4) of the series store.
//
// Every function here is pure apart from reading the store (series_store is thread-safe); call it
// from any thread. Output is appended to a caller-owned string so a handler can reuse its buffer.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "store/series_store.h"

namespace mca::exposition {

struct render_options {
  // Adds our app_id label (first) to every client series, which keeps apps apart. Off gives the
  // seed's output exactly; two apps holding the same series (same name and labels) would then
  // print the same sample twice, which Prometheus rejects, so only the sample with the newest
  // timestamp is printed (equal timestamps: the smallest app_id).
  bool app_id_label = true;
};

// Appends every live series of the store. Gauges:
//   # HELP client_metric_<name> Client metric: <original name>
//   # TYPE client_metric_<name> gauge
//   client_metric_<name>{app_id="<app>",<label>="<value>",...} <value>
// Counters: family client_metric_<name>_total (TYPE counter), one sample
//   client_metric_<name>_total{...} <total>.
// Histograms: family client_metric_<name> (TYPE histogram), per series the cumulative buckets
//   client_metric_<name>_bucket{...,le="<bound>"} (append_le; the last le="+Inf" = count), then
//   client_metric_<name>_sum{...} and client_metric_<name>_count{...}.
// Families are contiguous and ordered by name, then app_id, then labels; labels are sorted by
// name after app_id; no timestamps. Names that sanitise alike share one family, whose HELP names
// the smallest original name (deterministic). A series without labels and without app_id prints
// without braces.
void render_series(const store::series_store& store, const render_options& options,
                   std::string& out);

// The same, from any walk that visits series in the store's order (for_each_sorted's contract).
// The store's differential test renders its reference implementation through this.
using series_walk = std::function<void(const std::function<void(const store::series_view&)>&)>;
void render_series(const series_walk& walk, const render_options& options, std::string& out);

// Appends `v` as Prometheus spells it: the shortest text that reads back as the same double,
// "+Inf", "-Inf" or "NaN".
void append_value(double v, std::string& out);

// Appends a histogram bound as the `le` label value, spelled as Prometheus' client libraries do
// (Go's strconv.FormatFloat(v, 'g', -1, 64)): "0.005", "2500", "1e+06", "+Inf".
void append_le(double v, std::string& out);

// Appends `v` escaped for a label value (backslash, double quote, newline). Invalid UTF-8 bytes
// become U+FFFD: Prometheus rejects a scrape with an invalid label value, and only records from
// other producers on the topic (not validated JSON) can carry one.
void append_label_value(std::string_view v, std::string& out);

// Appends `v` escaped for HELP text (backslash, newline); invalid UTF-8 as above.
void append_help_text(std::string_view v, std::string& out);

}  // namespace mca::exposition
