#pragma once
// Reconnect delays: capped exponential backoff with jitter, first retry fast. Pure (the
// random source is passed in), so tests drive it without sockets or clocks.

#include <algorithm>
#include <chrono>
#include <random>

namespace autodiscd::docker {

class backoff {
 public:
  backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) : initial_(initial), max_(max) {}

  /// The delay before the next attempt: within [d/2, d] where d = initial * 2^failures,
  /// capped at `max`. The first attempt after a reset waits at most `initial`.
  template <class Random>
  std::chrono::milliseconds next(Random& random) {
    auto d = initial_;
    for (int i = 0; i < failures_ && d < max_; ++i) d *= 2;
    d = std::min(d, max_);
    ++failures_;
    std::uniform_int_distribution<long long> jitter(d.count() / 2, d.count());
    return std::chrono::milliseconds(jitter(random));
  }

  /// After a success: the next failure retries fast again.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  int failures_ = 0;
};

}  // namespace autodiscd::docker
