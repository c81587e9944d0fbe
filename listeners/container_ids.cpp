#include "listeners/container_ids.hpp"

#include <algorithm>

namespace autodiscd {

image_name_parts split_image_name(std::string_view image) {
  image_name_parts parts;
  if (image.empty() || image.starts_with("sha256:")) return parts;
  // A digest comes last and is introduced by '@'.
  if (auto at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
  // A tag is a ':' after the last '/': a ':' before it belongs to a registry port.
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    parts.tag = std::string(image.substr(colon + 1));
    image = image.substr(0, colon);
  }
  parts.long_name = std::string(image);
  parts.short_name =
      std::string(slash == std::string_view::npos ? image : image.substr(slash + 1));
  return parts;
}

std::vector<std::string> compute_container_service_ids(
    std::string_view id, std::string_view image,
    const std::map<std::string, std::string>& labels) {
  for (const char* key : {"com.datadoghq.ad.check.id", "com.datadoghq.sd.check.id"}) {
    if (auto it = labels.find(key); it != labels.end() && !it->second.empty()) {
      return {it->second};
    }
  }
  std::vector<std::string> ids;
  auto add = [&ids](std::string value) {
    if (!value.empty() && std::find(ids.begin(), ids.end(), value) == ids.end()) {
      ids.push_back(std::move(value));
    }
  };
  add(std::string(id));
  const auto parts = split_image_name(image);
  add(parts.long_name);
  add(parts.short_name);
  return ids;
}

}  // namespace autodiscd
