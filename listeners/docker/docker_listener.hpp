#pragma once
// The Docker listener: every running container of a Docker-compatible engine is a service.
// Subscribes to /events (with `since` from the engine's clock), lists and inspects the running
// containers with a few parallel connections, then inspects only the container an event names.
// On any stream error: reconnect with backoff, re-list, and report only the differences.

#include <memory>

#include "listeners/docker/docker_config.hpp"
#include "listeners/listener.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// Config `{type: docker, host, tls_verify, cert_path, timeout, inspect_concurrency,
/// removal_grace, wait_for_healthy, include, exclude, exclude_pause_containers}`.
class docker_listener : public listener {
 public:
  docker_listener(net::any_io_executor executor, docker::docker_settings settings);
  ~docker_listener() override;
  void start(service_sink& sink) override;
  void stop() override;

  static void validate(const listener_config& config, config_errors& errors);
  static std::unique_ptr<listener> create(net::any_io_executor executor, const listener_config& config);

  struct core;

 private:
  std::shared_ptr<core> core_;
};

}  // namespace autodiscd
