#pragma once
// The listener interface: a listener discovers services and reports differences.

#include <memory>
#include <string>
#include <string_view>

#include "listeners/asio.hpp"
#include "listeners/service_diff.hpp"

namespace autodiscd {

/// Where a listener reports. Implemented by the app; tests implement it to record calls.
/// Every call happens on the event loop's thread.
class service_sink {
 public:
  virtual ~service_sink() = default;
  /// Services of `listener` changed. Deltas are only ever differences.
  virtual void on_delta(const std::string& listener, service_delta delta) = 0;
  /// `listener` completed a full (re)sync: what it reported is now complete.
  virtual void on_synced(const std::string& listener) = 0;
  /// `listener` hit an error of `kind` (e.g. "timeout", "http_status", "tls", "parse");
  /// known services are kept. `message` is for people and never holds secrets.
  virtual void on_error(const std::string& listener, const std::string& kind,
                        const std::string& message) = 0;
  /// A counter for metrics: "events", "polls", "reconnects", "resyncs".
  virtual void on_count(const std::string& listener, std::string_view counter) = 0;
};

/// A source of services (docker, kubelet, ecs, static).
class listener {
 public:
  virtual ~listener() = default;
  /// Starts discovery on the listener's executor; returns at once.
  virtual void start(service_sink& sink) = 0;
  /// Cancels all of the listener's work; no sink call happens after it returns.
  virtual void stop() = 0;
};

}  // namespace autodiscd
