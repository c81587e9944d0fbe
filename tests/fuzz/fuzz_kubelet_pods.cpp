// Fuzzes the kubelet listener's mapping: a /pods body (PodList) -> services, then each
// service's annotation templates through the resolver.
// Input: the response body.
#include "fuzz_common.hpp"

#include "listeners/kubelet/kubelet_pods.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kubelet_pod_options options;
  options.now = std::chrono::system_clock::time_point(std::chrono::seconds(1'764'000'000));
  service_map out;
  const auto error = parse_pod_list(fuzz::as_view(data, size), options, out);
  if (error) {
    fuzz::require(out.empty(), "services kept from a body that is not a PodList");
    return 0;
  }
  const env_lookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const template_index none;
  for (const auto& [id, snapshot] : out) {
    const service& svc = *snapshot;
    fuzz::require(!id.empty() && id == svc.id, "service id", id);
    fuzz::require(svc.listener == "kubelet", "listener name");
    if (svc.ports) {
      for (std::size_t i = 1; i < svc.ports->size(); ++i) {
        fuzz::require((*svc.ports)[i - 1].port <= (*svc.ports)[i].port, "ports not sorted", id);
      }
    }
    (void)service_to_json(svc).dump();
    fuzz::require_valid_configs(resolve_service(svc, none, env));
  }
  return 0;
}
