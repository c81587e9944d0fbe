#pragma once
// Settings of the Docker listener from its config map and the docker CLI's environment
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). Config keys win over the environment.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/template_vars.hpp"
#include "listeners/http/http_client.hpp"
#include "listeners/registry.hpp"

namespace autodiscd::docker {

/// Everything the listener needs, validated.
struct docker_settings {
  std::string name = "docker";
  /// Where the engine is (TLS options filled from tls_verify / cert_path).
  http_endpoint endpoint;
  /// Per request: connect .. last byte (list, inspect, ping).
  std::chrono::milliseconds timeout{10000};
  /// Parallel inspect connections during a full sync.
  int inspect_concurrency = 4;
  /// How long a stopped container's service is kept before removal (0: at once).
  std::chrono::milliseconds removal_grace{0};
  /// A container with a health check is ready only when healthy.
  bool wait_for_healthy = false;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool exclude_pause_containers = true;
  /// Reconnect backoff: first retry after `backoff_initial`, doubling up to `backoff_max`.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
  /// The engine may be missing on this host: while its unix socket does not exist (and no
  /// container was ever seen), the listener is synced with no services and waits quietly.
  bool optional = false;
  /// Largest list/inspect body.
  std::size_t body_limit = 32u << 20;
};

/// Reads and checks the listener's keys (`host`, `tls_verify`, `cert_path`, `timeout`,
/// `inspect_concurrency`, `removal_grace`, `wait_for_healthy`, `include`, `exclude`,
/// `exclude_pause_containers`, `backoff_initial`, `backoff_max`, `optional`), appending every error.
/// Pure given `env`.
docker_settings read_docker_settings(const listener_config& config, const env_lookup& env, config_errors& errors);

}  // namespace autodiscd::docker
