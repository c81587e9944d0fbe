#pragma once
// Pure parts of the ECS listener: the metadata endpoint to poll, and task JSON -> services.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "listeners/service_diff.hpp"

namespace autodiscd {

/// Versions of the ECS task metadata endpoint.
enum class ecs_metadata_version { v2, v3, v4 };

/// The endpoint the listener polls.
struct ecs_endpoint {
  std::string url;  ///< the task URL: ".../task" (v3/v4) or ".../v2/metadata"
  ecs_metadata_version version = ecs_metadata_version::v2;
  /// v4 only: ".../taskWithTags", which adds the task's tags when the agent can read them.
  std::string tags_url;
  std::string source;  ///< how it was chosen, for logs: "url", "ECS_CONTAINER_METADATA_URI_V4", ...
};

/// The default v2 endpoint (EC2 tasks with awsvpc, and Fargate platform 1.3).
inline constexpr std::string_view ecs_v2_default_url = "http://169.254.170.2/v2/metadata";

/// Chooses the endpoint: `url_override` when set (v2 when its path has "/v2/", else v3);
/// else `${ECS_CONTAINER_METADATA_URI_V4}/task`; else `${ECS_CONTAINER_METADATA_URI}/task`;
/// else the v2 default. `env` reads the environment. Pure.
ecs_endpoint choose_ecs_endpoint(const std::optional<std::string>& url_override,
                                 const std::function<std::optional<std::string>(const std::string&)>& env);

/// How task JSON becomes services.
struct ecs_task_options {
  std::string listener_name = "ecs";
  ecs_metadata_version version = ecs_metadata_version::v4;
  /// A container with a health check is ready only when HEALTHY.
  bool wait_for_healthy = false;
};

/// What one task document says.
struct ecs_task_result {
  service_map services;
  /// The task's KnownStatus ("" when absent).
  std::string task_status;
  /// False while the task is not running yet (PENDING, ...): the poll is not a sync.
  bool task_started = true;
};

/// Parses a task metadata document (v2, v3, v4, or v4 taskWithTags). Keys are read as the
/// endpoint spells them; missing fields are not errors. One service per container with
/// KnownStatus RUNNING, except the ECS pause container. Returns why the body is not a task
/// (malformed JSON, not an object, no `Containers` list); `out` is then empty. Pure.
std::optional<std::string> parse_ecs_task(std::string_view body, const ecs_task_options& options,
                                          ecs_task_result& out);

}  // namespace autodiscd
