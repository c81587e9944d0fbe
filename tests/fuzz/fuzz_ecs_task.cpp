// Fuzzes the ECS listener's mapping: a task metadata document (v2 and v4 readings) -> services,
// then each service's label templates through the resolver.
// Input: the response body.
#include "fuzz_common.hpp"

#include "listeners/ecs/ecs_task.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const env_lookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const template_index none;
  for (auto version : {ecs_metadata_version::v2, ecs_metadata_version::v4}) {
    ecs_task_options options;
    options.version = version;
    options.wait_for_healthy = version == ecs_metadata_version::v4;
    ecs_task_result out;
    const auto error = parse_ecs_task(fuzz::as_view(data, size), options, out);
    if (error) {
      fuzz::require(out.services.empty(), "services kept from a body that is not a task");
      continue;
    }
    for (const auto& [id, snapshot] : out.services) {
      const service& svc = *snapshot;
      fuzz::require(!id.empty() && id == svc.id, "service id", id);
      (void)service_to_json(svc).dump();
      fuzz::require_valid_configs(resolve_service(svc, none, env));
    }
  }
  return 0;
}
