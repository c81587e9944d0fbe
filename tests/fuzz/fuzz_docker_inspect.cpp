// Fuzzes the Docker listener's mapping: `GET /containers/{id}/json` -> service (labels ->
// identifiers and templates), image names, then the resolver on the service.
// Input: the inspect body (the container fixtures seed it).
#include "fuzz_common.hpp"

#include "listeners/docker/docker_mapping.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto doc = nlohmann::json::parse(fuzz::as_view(data, size), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  (void)docker::image_name_from_image_inspect(doc);
  const auto image = docker::image_name_of(doc);
  (void)docker::image_id_of(doc);
  (void)docker::container_ports(doc);
  std::vector<std::string> errors;
  const docker::container_filter filter({"name:^keep"}, {"image:.*", "name:x$"}, true, errors);
  fuzz::require(errors.empty(), "filter regexes");
  const env_lookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const template_index none;
  for (bool healthy : {false, true}) {
    docker::mapping_options options;
    options.wait_for_healthy = healthy;
    for (const auto* f : {&filter, static_cast<const docker::container_filter*>(nullptr)}) {
      const auto mapped = docker::map_container(doc, image, options, f ? *f : docker::container_filter());
      if (!mapped.svc) continue;
      const auto& svc = *mapped.svc;
      fuzz::require(!svc.id.empty(), "a service without an id");
      fuzz::require(!svc.ad_identifiers.empty(), "a service without identifiers", svc.id);
      if (svc.ports) {
        for (std::size_t i = 1; i < svc.ports->size(); ++i) {
          fuzz::require((*svc.ports)[i - 1].port <= (*svc.ports)[i].port, "ports not sorted", svc.id);
        }
      }
      (void)service_to_json(svc).dump();
      fuzz::require_valid_configs(resolve_service(svc, none, env));
    }
  }
  return 0;
}
