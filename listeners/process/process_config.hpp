#pragma once
// Settings of the process listener from its config map.

#include <chrono>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "listeners/process/process_mapping.hpp"
#include "listeners/registry.hpp"

namespace autodiscd::process {

/// Everything the listener needs, validated (config keys in parentheses).
struct process_settings {
  std::string name = "process";
  /// (interval) How often the listening sockets are checked.
  std::chrono::milliseconds interval{1000};
  /// (min_age) A process younger than this is not a service yet (0: at once).
  std::chrono::milliseconds min_age{0};
  /// (removal_grace) How long an exited process's service is kept (0: removed at once).
  std::chrono::milliseconds removal_grace{0};
  /// (udp) Also UDP sockets bound without a peer.
  bool udp = false;
  /// (include_containers) Also processes inside containers (else the container listeners' own).
  bool include_containers = false;
  /// (rules) Extra identifiers for the processes they match.
  std::vector<process_rule> rules;
};

/// Reads and checks the listener's keys, appending every error with its key path: an unknown
/// key (also under `match`), a bad regex, a rule without `match` or `ad_identifiers`. Pure.
process_settings read_process_settings(const listener_config& config, config_errors& errors);

}  // namespace autodiscd::process
