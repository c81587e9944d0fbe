#pragma once
// The daemon's own settings: parse and validate, reporting every error at once.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// `output.on_change`: a command run after a batch of file changes.
struct change_hook_config {
  std::vector<std::string> command;  ///< empty: no hook
  std::chrono::milliseconds debounce{250};
  std::chrono::milliseconds timeout{10'000};
};

/// Everything the config file says.
struct daemon_config {
  std::string file;  ///< the file it was read from
  std::vector<listener_config> listeners;
  std::vector<std::string> template_dirs;  ///< absolute, or relative to the config file
  std::string output_dir;
  bool remove_output_on_exit = false;  ///< output.remove_on_exit
  change_hook_config on_change;
  std::string status_listen = "127.0.0.1:5009";  ///< "host:port", "unix:/path" or "off"
  std::string log_level = "info";
  std::string log_format = "text";  ///< text | json
  /// `startup_grace`: the longest start-up waits for every listener's first sync before the
  /// daemon reports itself started (sd_notify READY=1) anyway; a listener that has not synced
  /// by then stays a listener error (healthz, status, metrics), never a failed start.
  std::chrono::milliseconds startup_grace{10'000};
};

/// Parses a config document. Relative paths are taken relative to `base_dir`.
/// Returns every error found; `out` is complete only when none.
config_errors parse_daemon_config(const std::string& text, const std::string& file,
                                  const std::string& base_dir, daemon_config& out);

/// Reads and parses a config file.
config_errors load_daemon_config(const std::string& path, daemon_config& out);

}  // namespace autodiscd
