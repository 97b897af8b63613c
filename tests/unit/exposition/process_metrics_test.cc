#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "exposition/process_metrics.h"

namespace mca::exposition {
namespace {

std::map<std::string, double> values_of(const prometheus::Collectable& c) {
  std::map<std::string, double> out;
  for (const auto& f : c.Collect()) {
    EXPECT_EQ(f.metric.size(), 1u) << f.name;
    if (f.metric.empty()) continue;
    out[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                            : f.metric[0].gauge.value;
  }
  return out;
}

struct fake_proc : ::testing::Test {
  std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("mca_proc_" + std::to_string(::getpid()));
  std::filesystem::path self = root / "self";
  void SetUp() override { std::filesystem::create_directories(self / "fd"); }
  void TearDown() override { std::filesystem::remove_all(root); }
  static void write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
  }
};

TEST_F(fake_proc, reads_stat_limits_fds_and_boot_time) {
  const double tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // A command name with spaces and a ')' must not shift the fields.
  write(self / "stat",
        "4242 (evil ) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 " +
            std::to_string(static_cast<long>(tck * 30)) + " 123456789 2048 18446744073709551615\n");
  write(root / "stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n");
  write(self / "limits",
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max open files            1024                 524288               files     \n");
  for (int i = 0; i < 5; ++i) write(self / "fd" / std::to_string(i), "");
  auto c = make_process_collectable(self.string(), root.string());
  const auto v = values_of(*c);
  EXPECT_DOUBLE_EQ(v.at("process_cpu_seconds_total"), 300 / tck);
  EXPECT_DOUBLE_EQ(v.at("process_virtual_memory_bytes"), 123456789);
  EXPECT_DOUBLE_EQ(v.at("process_resident_memory_bytes"), 2048 * page);
  EXPECT_DOUBLE_EQ(v.at("process_start_time_seconds"), 1700000000 + 30);
  EXPECT_DOUBLE_EQ(v.at("process_open_fds"), 5);
  EXPECT_DOUBLE_EQ(v.at("process_max_fds"), 1024);
  for (const auto& f : c->Collect()) {
    EXPECT_EQ(f.type, f.name == "process_cpu_seconds_total" ? prometheus::MetricType::Counter
                                                            : prometheus::MetricType::Gauge)
        << f.name;
  }
}

TEST_F(fake_proc, leaves_out_what_cannot_be_read) {
  write(self / "limits",
        "Max open files            unlimited            unlimited            files\n");
  auto c = make_process_collectable(self.string(), root.string());
  const auto v = values_of(*c);
  EXPECT_EQ(v.count("process_cpu_seconds_total"), 0u);
  EXPECT_EQ(v.count("process_max_fds"), 0u);
  EXPECT_EQ(v.count("process_start_time_seconds"), 0u);
  EXPECT_DOUBLE_EQ(v.at("process_open_fds"), 0);
}

TEST(process_metrics, the_real_process_has_all_six) {
  const auto v = values_of(*make_process_collectable());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_EQ(v.count(name), 1u) << name;
  }
  EXPECT_GT(v.at("process_resident_memory_bytes"), 0);
  EXPECT_GE(v.at("process_virtual_memory_bytes"), v.at("process_resident_memory_bytes"));
  EXPECT_GT(v.at("process_start_time_seconds"), 1.6e9);
}

}  // namespace
}  // namespace mca::exposition
