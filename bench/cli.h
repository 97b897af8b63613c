// What the bench programs share on their command line and in their results: the usage error
// and the program's own CPU time (getrusage), which each reports over its measured window.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

namespace mca::bench {

// Prints "<program>: <why>" and the usage line to stderr and exits with status 2.
[[noreturn]] inline void usage_exit(const char* program, const char* synopsis, const char* why) {
  std::fprintf(stderr, "%s: %s\nusage: %s %s\n", program, why, program, synopsis);
  std::exit(2);
}

// User + system CPU seconds of this process so far.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace mca::bench
