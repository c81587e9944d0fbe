#pragma once
// Pure mapping of a kubelet `/pods` response (kind PodList) to services.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "listeners/service_diff.hpp"

namespace autodiscd {

/// How pods become services.
struct kubelet_pod_options {
  /// The listener's name, set as `service::listener`.
  std::string listener_name = "kubelet";
  /// Pods that finished (Succeeded/Failed) longer ago than this are dropped.
  std::chrono::milliseconds pod_expiration = std::chrono::minutes(15);
  /// "Now", for the expiration; tests pass a fixed time.
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  /// Out, when set: the earliest moment a finished pod of this list that is not expired yet
  /// will expire (left as it is when none will): until then the same body maps to the same
  /// services.
  std::optional<std::chrono::system_clock::time_point>* next_expiry = nullptr;
};

/// Parses a `/pods` body (kind PodList) and maps it to services, pod by pod as it is read:
/// - one per container of `status.containerStatuses` that has a `containerID` (init
///   containers and containers without an id are not services), id as the kubelet gives it;
/// - one per pod, id `kubernetes_pod://<uid>`, always ready, ports the union of its
///   containers' ports.
/// Pod annotations give templates (`ad.datadoghq.com/<container>.` or the legacy
/// `service-discovery.datadoghq.com/<container>.`, `<container>` being the container name or
/// its `check.id`), exclusions and readiness overrides. Annotation errors are kept on the
/// service they belong to (the pod service for an annotation naming no container).
/// Only the values the mapping reads are copied (kubelet_pod_shape.hpp); no document is built.
/// Returns why the body is not a PodList (malformed JSON with the byte offset, wrong shape);
/// `out` is then left empty. `"items": null` is an empty list. Pure.
std::optional<std::string> parse_pod_list(std::string_view body, const kubelet_pod_options& options,
                                          service_map& out);

/// Parses an RFC 3339 time as Kubernetes writes it ("2019-06-03T12:01:08Z", fractions and
/// offsets accepted). nullopt when malformed. Pure.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace autodiscd
