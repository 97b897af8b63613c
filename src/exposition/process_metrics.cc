#include "exposition/process_metrics.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "util/probe.h"

namespace mca::exposition {
namespace {

using util::counter_family;
using util::gauge_family;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

// The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses:
// it ends at the last ')'). fields[0] is field 3 (state).
std::vector<std::string> stat_fields(const std::string& stat) {
  std::vector<std::string> out;
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream rest(stat.substr(close + 1));
  for (std::string f; rest >> f;) out.push_back(std::move(f));
  return out;
}

std::optional<double> boot_time_seconds(const std::string& proc_root) {
  auto text = read_file(proc_root + "/stat");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return std::nullopt;
}

std::optional<double> max_fds(const std::string& proc_dir) {
  auto text = read_file(proc_dir + "/limits");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return std::nullopt;
    return std::strtod(soft.c_str(), nullptr);
  }
  return std::nullopt;
}

std::optional<double> open_fds(const std::string& proc_dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(proc_dir + "/fd", ec);
  if (ec) return std::nullopt;
  double n = 0;
  for (const auto& entry : it) {
    (void)entry;
    ++n;
  }
  return n;
}

class process_collectable final : public prometheus::Collectable {
 public:
  process_collectable(std::string proc_dir, std::string proc_root)
      : proc_dir_(std::move(proc_dir)), proc_root_(std::move(proc_root)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (auto stat = read_file(proc_dir_ + "/stat")) {
      const auto f = stat_fields(*stat);
      // Fields (1-based, proc(5)): 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
      if (f.size() >= 22 && ticks > 0) {
        const double utime = std::strtod(f[14 - 3].c_str(), nullptr);
        const double stime = std::strtod(f[15 - 3].c_str(), nullptr);
        out.push_back(counter_family("process_cpu_seconds_total",
                                     "Total user and system CPU time spent in seconds.",
                                     (utime + stime) / ticks));
        out.push_back(gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                   std::strtod(f[23 - 3].c_str(), nullptr)));
        out.push_back(gauge_family("process_resident_memory_bytes",
                                   "Resident memory size in bytes.",
                                   std::strtod(f[24 - 3].c_str(), nullptr) * page));
        if (auto boot = boot_time_seconds(proc_root_)) {
          out.push_back(gauge_family("process_start_time_seconds",
                                     "Start time of the process since unix epoch in seconds.",
                                     *boot + std::strtod(f[22 - 3].c_str(), nullptr) / ticks));
        }
      }
    }
    if (auto n = open_fds(proc_dir_)) {
      out.push_back(gauge_family("process_open_fds", "Number of open file descriptors.", *n));
    }
    if (auto n = max_fds(proc_dir_)) {
      out.push_back(
          gauge_family("process_max_fds", "Maximum number of open file descriptors.", *n));
    }
    return out;
  }

 private:
  std::string proc_dir_;
  std::string proc_root_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> make_process_collectable(std::string_view proc_dir,
                                                                  std::string_view proc_root) {
  return std::make_shared<process_collectable>(std::string(proc_dir), std::string(proc_root));
}

}  // namespace mca::exposition
