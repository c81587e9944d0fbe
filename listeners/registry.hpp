#pragma once
// The table of listener factories keyed by the config `type`.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config/config_error.hpp"
#include "listeners/listener.hpp"

namespace autodiscd {

/// A listener as the config file declares it.
struct listener_config {
  std::string type;     ///< "static", "docker", "kubelet", "ecs"
  std::string name;     ///< unique per daemon; defaults to the type
  std::string file;     ///< config file it came from (for errors)
  std::string key_path; ///< e.g. "listeners[0]"
  YAML::Node node;      ///< the listener's own map (type and name included)
  std::string canonical;  ///< the node re-emitted: equal strings mean equal settings
};

/// How to build one type of listener.
struct listener_factory {
  std::string_view type;
  /// Checks the listener's keys; appends every error found. Pure.
  void (*validate)(const listener_config& config, config_errors& errors);
  /// Builds the listener (config already validated).
  std::unique_ptr<listener> (*create)(net::any_io_executor executor,
                                      const listener_config& config);
};

/// Every listener type the daemon knows, in one visible place.
std::span<const listener_factory> listener_factories();

/// The factory for `type`, or nullptr.
const listener_factory* find_listener_factory(std::string_view type);

}  // namespace autodiscd
