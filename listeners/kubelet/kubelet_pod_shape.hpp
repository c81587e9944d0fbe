#pragma once
// The parts of a kubelet `/pods` body (kind PodList) that the mapping reads, as a walk over its
// keys: parse_pod_list's reader keeps only the values whose kind is not `skip` (a body is
// mostly managedFields, volumes, env and last-applied-configuration, which are never
// allocated), and the parser benchmark builds its pruned documents with the same walk.

#include <string_view>

namespace autodiscd {

inline constexpr std::string_view ad_prefix = "ad.datadoghq.com/";
inline constexpr std::string_view legacy_prefix = "service-discovery.datadoghq.com/";

/// What a JSON object or array in a /pods body is, to keep only what the mapping reads.
enum class pod_node {
  root, items, pod, metadata, annotations, spec, containers, container, ports, port, init_containers,
  init_container, status, conditions, condition, statuses, container_status, state, terminated, keep_all,
  skip
};

/// The kind of the value under `key` in an object of kind `parent` (`skip`: not read).
pod_node pod_member_kind(pod_node parent, std::string_view key);

/// The kind of the elements of an array of kind `parent`.
pod_node pod_element_kind(pod_node parent);

/// Kinds read as JSON objects (the pod, its metadata, a container...); a value of another type
/// under such a key is not read.
bool pod_node_is_object(pod_node kind);
/// Kinds read as JSON arrays (items, containers, ports...).
bool pod_node_is_array(pod_node kind);

}  // namespace autodiscd
