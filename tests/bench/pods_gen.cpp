#include "pods_gen.hpp"

#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "support/support.hpp"

namespace autodiscd::bench {

namespace {
const nlohmann::json& fixture_pods() {
  static const nlohmann::json items = [] {
    std::ifstream in(test::fixture("kubelet/kubelet_podlist_container_ready.json"));
    auto doc = nlohmann::json::parse(in);
    if (!doc.contains("items") || !doc["items"].is_array() || doc["items"].empty()) {
      throw std::runtime_error("kubelet fixture has no items");
    }
    return doc["items"];
  }();
  return items;
}
}  // namespace

nlohmann::json synthetic_pod_list(std::size_t pods, std::size_t changed, int generation) {
  const auto& base = fixture_pods();
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < pods; ++i) {
    nlohmann::json pod = base[i % base.size()];
    const int gen = i < changed ? generation : 0;
    auto& meta = pod["metadata"];
    meta["name"] = fmt::format("{}-{}", meta.value("name", "pod"), i);
    meta["uid"] = fmt::format("00000000-0000-4000-8000-{:012x}", i);
    auto& status = pod["status"];
    status["phase"] = "Running";
    status["podIP"] = fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    status["conditions"] = nlohmann::json::array(
        {{{"type", "Ready"}, {"status", "True"}}, {{"type", "Initialized"}, {"status", "True"}}});
    auto& statuses = status["containerStatuses"];
    for (std::size_t c = 0; c < statuses.size(); ++c) {
      statuses[c]["containerID"] = fmt::format("docker://{:056x}{:04x}{:04x}", i, c, gen);
      statuses[c]["ready"] = true;
    }
    pod["spec"]["containers"].push_back(
        {{"name", "sidecar"},
         {"image", "redis:5"},
         {"ports", nlohmann::json::array({{{"name", "sidecar"}, {"containerPort", 6380}, {"protocol", "TCP"}}})}});
    statuses.push_back({{"name", "sidecar"},
                        {"state", {{"running", {{"startedAt", "2019-06-03T14:05:58Z"}}}}},
                        {"ready", true},
                        {"restartCount", 0},
                        {"image", "redis:5"},
                        {"imageID", "docker-pullable://redis@sha256:" + std::string(64, 'e')},
                        {"containerID", fmt::format("docker://{:056x}{:04x}{:04x}", i, 9999, gen)}});
    items.push_back(std::move(pod));
  }
  return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()}, {"items", items}};
}

}  // namespace autodiscd::bench
