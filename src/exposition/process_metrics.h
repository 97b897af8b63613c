// The standard process_* metrics, as the Prometheus client libraries define them (Go's
// client_golang and Python's prometheus_client on Linux): CPU time, resident and virtual memory,
// open and maximum file descriptors, start time. Read from /proc/self at every scrape.
#pragma once

#include <memory>
#include <string_view>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace mca::exposition {

// process_cpu_seconds_total (counter), process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds
// (gauges). A value that cannot be read (no /proc) is left out rather than reported as 0.
// `proc_dir` is the /proc/<pid> directory to read (tests point it at fixtures).
std::shared_ptr<prometheus::Collectable> make_process_collectable(
    std::string_view proc_dir = "/proc/self", std::string_view proc_root = "/proc");

}  // namespace mca::exposition
