#pragma once
// A synthetic kubelet /pods response built from the recorded real pods in
// tests/fixtures/kubelet: pod i is a copy of fixture pod (i mod 5) with its own name, uid, IP
// and container ids, Running and Ready, plus a `sidecar` container (redis:5), so N pods hold
// 2N containers (250 pods = 500 containers, as in the Kubelet issue).

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace autodiscd::bench {

/// The PodList for `pods` pods. `generation` changes every container id of the pods whose
/// index is below `changed` (a rolling restart of those pods).
nlohmann::json synthetic_pod_list(std::size_t pods, std::size_t changed = 0, int generation = 0);

}  // namespace autodiscd::bench
