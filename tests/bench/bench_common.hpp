#pragma once
// Small helpers shared by the benchmark subcommands: options, clocks, summaries, tables.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace autodiscd::bench {

using clock_type = std::chrono::steady_clock;

/// Milliseconds between two time points, as a double.
double ms_between(clock_type::time_point from, clock_type::time_point to);

/// CPU time (user + sys) of this process / this thread, in milliseconds.
double process_cpu_ms();
double thread_cpu_ms();

/// `--key value` and `--flag` options after the subcommand.
class options {
 public:
  options(int argc, char** argv, int first);
  std::string str(const std::string& key, const std::string& fallback) const;
  long num(const std::string& key, long fallback) const;
  double real(const std::string& key, double fallback) const;
  /// A comma-separated list of numbers: "100,1000,10000".
  std::vector<long> nums(const std::string& key, const std::string& fallback) const;
  bool flag(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
};

/// Sorted samples; quantiles by nearest rank.
struct summary {
  explicit summary(std::vector<double> samples);
  std::size_t count() const { return v.size(); }
  double min() const;
  double median() const;
  double p99() const;
  double max() const;
  double quantile(double q) const;
  std::vector<double> v;
};

/// "12.3" with a sensible number of digits.
std::string fmt_num(double value);

/// Prints a markdown table (run.sh copies lines starting with '|' into docs/benchmarks.md).
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

/// Writes `text` to stderr, prefixed, for progress lines that stay out of the tables.
void progress(const std::string& text);

/// Time on a CPU of every thread of process `pid` (/proc/PID/task/*/schedstat: ns, not the
/// 10 ms ticks of utime/stime), in milliseconds.
double schedstat_cpu_ms(int pid);

/// Resident set size of process `pid` in KiB (VmRSS), -1 when unknown.
long rss_kib(int pid);

}  // namespace autodiscd::bench
