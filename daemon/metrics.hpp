#pragma once
// Prometheus metrics: a latency histogram and the text exposition of the app's state.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace autodiscd {

class app;

/// A fixed-bucket histogram of durations in seconds (Prometheus semantics: cumulative
/// buckets, sum and count). Buckets cover 1 ms .. 10 s.
class latency_histogram {
 public:
  static constexpr std::array<double, 12> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
  void observe(std::chrono::nanoseconds d);
  /// Observations <= bounds[i] (cumulative).
  std::uint64_t cumulative(std::size_t i) const;
  std::uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_; }

 private:
  std::array<std::uint64_t, bounds.size()> buckets_{};  ///< not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

/// Escapes a label value for the text format (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

/// The whole /metrics page in Prometheus text format 0.0.4, every name prefixed
/// `autodiscd_`. Pure: reads only the app's state.
std::string render_metrics(const app& a);

}  // namespace autodiscd
