#pragma once
// A polled source (the kubelet's /pods, the ECS task metadata) answers with the same bytes
// until something changes. body_memo remembers the last good body by its length and a 64-bit
// hash, so that a poll with the same body skips parsing, diffing and resolving. Pure.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace autodiscd {

/// A body's length and hash (std::hash of its bytes).
struct body_fingerprint {
  std::size_t size = 0;
  std::size_t hash = 0;
  friend bool operator==(const body_fingerprint&, const body_fingerprint&) = default;
};

body_fingerprint fingerprint(std::string_view body);

class body_memo {
 public:
  using time_point = std::chrono::system_clock::time_point;

  /// True when `body` is the remembered one and `now` is before the moment the same body
  /// stops meaning the same services (a finished pod that expires).
  bool unchanged(const body_fingerprint& body, time_point now) const {
    return last_ && *last_ == body && (!expires_ || now < *expires_);
  }
  /// Remembers the body of a good poll. `expires`: when the same bytes would map to other
  /// services (nullopt: never).
  void remember(const body_fingerprint& body, std::optional<time_point> expires) {
    last_ = body;
    expires_ = expires;
  }
  void forget() { last_.reset(); }

 private:
  std::optional<body_fingerprint> last_;
  std::optional<time_point> expires_;
};

}  // namespace autodiscd
