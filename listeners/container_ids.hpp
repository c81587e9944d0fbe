#pragma once
// AD identifiers of a container and image-name splitting (Datadog semantics).

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace autodiscd {

/// The parts of an image reference.
struct image_name_parts {
  std::string long_name;   ///< without tag and digest, registry kept: "myreg:5000/team/app"
  std::string short_name;  ///< last path component: "app"
  std::string tag;         ///< "latest", "" when the reference has none
};

/// Splits an image reference. `nginx:latest` -> {nginx, nginx, latest};
/// `myregistry.local:5000/testing/test-image:version@sha256:...` ->
/// {myregistry.local:5000/testing/test-image, test-image, version}.
/// Returns nullopt-like empty parts for "" and for "sha256:..." image ids.
image_name_parts split_image_name(std::string_view image);

/// Identifiers of a container: the `com.datadoghq.ad.check.id` label (legacy
/// `com.datadoghq.sd.check.id`) alone when set; otherwise `[id, long image, short image]`,
/// without duplicates and without empty entries. `id` is the full "<runtime>://<id>".
std::vector<std::string> compute_container_service_ids(
    std::string_view id, std::string_view image,
    const std::map<std::string, std::string>& labels);

}  // namespace autodiscd
