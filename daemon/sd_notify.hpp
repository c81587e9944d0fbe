#pragma once
// systemd's notify protocol: one datagram per state change to $NOTIFY_SOCKET.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "config/template_vars.hpp"

namespace autodiscd {

/// Sends `READY=1`, `STATUS=...`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1` to the socket
/// systemd names in NOTIFY_SOCKET (a path, or `@name` for an abstract socket). Does
/// nothing at all when NOTIFY_SOCKET is unset. Sending never blocks.
class sd_notifier {
 public:
  /// Reads NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID) from `env`.
  explicit sd_notifier(const env_lookup& env);
  bool enabled() const { return !socket_path_.empty(); }
  /// Sends one datagram; false when disabled or the send failed.
  bool send(std::string_view message) const;
  /// Half of WATCHDOG_USEC when the watchdog is on for this process; nullopt otherwise.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

 private:
  std::string socket_path_;
  std::optional<std::chrono::microseconds> watchdog_interval_;
};

/// "READY=1\nSTATUS=<one line>" and friends: newlines in `status` become spaces.
std::string sd_status_line(std::string_view status);

}  // namespace autodiscd
