#pragma once
// The ECS listener: polls the task metadata endpoint (v4, v3 or v2) of the task it runs in
// and reports the task's running containers as services.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "config/template_vars.hpp"
#include "listeners/ecs/ecs_task.hpp"
#include "listeners/listener.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// Settings of one ECS listener (config keys in parentheses).
struct ecs_settings {
  std::string name = "ecs";
  /// (url) Overrides the endpoint found from the environment (see choose_ecs_endpoint).
  std::optional<std::string> url;
  /// (poll_interval) Time between two polls.
  std::chrono::milliseconds poll_interval{5000};
  /// (timeout) Whole request.
  std::chrono::milliseconds timeout{2000};
  /// (wait_for_healthy) A container with a health check is ready only when HEALTHY.
  bool wait_for_healthy = false;
  /// (body_limit) Largest accepted task document, bytes.
  std::size_t body_limit = 8u << 20;
};

/// Reads a listener's config into settings; appends every error. Pure.
ecs_settings read_ecs_settings(const listener_config& config, config_errors& errors);

/// Whether an HTTP status from taskWithTags means the agent does not offer it (or not to us),
/// so the listener uses /task from then on: a 4xx other than 408 and 429. A 5xx, 408 or 429
/// is a failed poll like any other (the tags endpoint is tried again next time). Pure.
bool tags_not_offered(int status);

class ecs_listener : public listener {
 public:
  /// `env` is read once, here, to choose the endpoint.
  ecs_listener(net::any_io_executor executor, ecs_settings settings, const env_lookup& env);
  ~ecs_listener() override;
  void start(service_sink& sink) override;
  void stop() override;

  /// The endpoint chosen at construction.
  const ecs_endpoint& endpoint() const;

  static void validate(const listener_config& config, config_errors& errors);
  static std::unique_ptr<listener> create(net::any_io_executor executor, const listener_config& config);

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace autodiscd
