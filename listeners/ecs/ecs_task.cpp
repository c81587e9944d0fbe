#include "listeners/ecs/ecs_task.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "listeners/ad_templates.hpp"
#include "listeners/container_ids.hpp"

namespace autodiscd {
namespace {

using input_json = nlohmann::json;

std::string_view str(const input_json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

/// A string or number member as text ("Revision" is a string in the samples, a number in some agents).
std::string text(const input_json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  return {};
}

const input_json& member(const input_json& object, const char* key) {
  static const input_json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string trim_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

/// A port number from a JSON number or numeric string; 0 when neither.
int port_number(const input_json& value) {
  long long n = 0;
  if (value.is_number_integer()) {
    n = value.get<long long>();
  } else if (value.is_string()) {
    try {
      n = std::stoll(value.get<std::string>());
    } catch (const std::exception&) {
      n = 0;
    }
  }
  return n >= 1 && n <= 65535 ? static_cast<int>(n) : 0;
}

void add_tag(std::vector<std::string>& tags, std::string_view name, std::string_view value) {
  if (!value.empty()) tags.push_back(std::string(name) + ":" + std::string(value));
}

/// Task states before RUNNING: the task's containers are not all known yet.
bool task_not_started(std::string_view status) {
  constexpr std::array<std::string_view, 6> early = {"NONE", "MANIFEST_PULLED", "CREATED", "PROVISIONING", "PENDING",
                                                     "ACTIVATING"};
  return std::find(early.begin(), early.end(), status) != early.end();
}

service map_container(const input_json& c, const std::vector<std::string>& task_tags,
                      const ecs_task_options& options) {
  service svc;
  const std::string docker_id(str(c, "DockerId"));
  const std::string name(str(c, "Name"));
  const std::string image(str(c, "Image"));
  std::map<std::string, std::string> labels;
  if (const auto& l = member(c, "Labels"); l.is_object()) {
    for (const auto& [key, value] : l.items()) {
      if (value.is_string()) labels.emplace(key, value.get<std::string>());
    }
  }
  svc.id = "docker://" + docker_id;
  svc.listener = options.listener_name;
  svc.ad_identifiers = compute_container_service_ids(svc.id, image, labels);

  svc.hosts.emplace();
  std::string network_mode;
  if (const auto& networks = member(c, "Networks"); networks.is_array()) {
    for (const auto& n : networks) {
      const std::string mode(str(n, "NetworkMode"));
      const auto& addresses = member(n, "IPv4Addresses");
      if (network_mode.empty()) network_mode = mode;
      if (!mode.empty() && addresses.is_array() && !addresses.empty() && addresses[0].is_string()) {
        svc.hosts->emplace(mode, addresses[0].get<std::string>());
      }
    }
  }

  // Ports are listed by v4 (and by some v2 agents); v2/v3 without them: not supported.
  const auto& ports = member(c, "Ports");
  if (ports.is_array() || options.version == ecs_metadata_version::v4) {
    svc.ports.emplace();
    if (ports.is_array()) {
      for (const auto& p : ports) {
        int number = port_number(member(p, "ContainerPort"));
        if (network_mode == "bridge") {
          if (const int host_port = port_number(member(p, "HostPort"))) number = host_port;
        }
        if (number == 0) continue;
        const auto protocol = str(p, "Protocol");
        svc.ports->push_back({number, std::to_string(number) + "/" + std::string(protocol.empty() ? "tcp" : protocol)});
      }
    }
    normalize_ports(*svc.ports);
    // A port bound on IPv4 and IPv6 is listed twice: each number once.
    svc.ports->erase(std::unique(svc.ports->begin(), svc.ports->end(),
                                 [](const service_port& a, const service_port& b) { return a.port == b.port; }),
                     svc.ports->end());
  }

  const auto image_parts = split_image_name(image);
  svc.tags = task_tags;
  add_tag(svc.tags, "ecs_container_name", name);
  add_tag(svc.tags, "image_name", image_parts.long_name);
  add_tag(svc.tags, "short_image", image_parts.short_name);
  add_tag(svc.tags, "image_tag", image_parts.tag);
  std::sort(svc.tags.begin(), svc.tags.end());
  svc.tags.erase(std::unique(svc.tags.begin(), svc.tags.end()), svc.tags.end());

  svc.ready = true;
  if (options.wait_for_healthy) {
    const auto health = str(member(c, "Health"), "status");
    if (!health.empty() && health != "HEALTHY") svc.ready = false;
  }
  svc.extra = {{"container_name", name}};
  svc.label_templates = parse_ad_templates(labels, "com.datadoghq.ad.", "container " + name);
  return svc;
}

}  // namespace

ecs_endpoint choose_ecs_endpoint(const std::optional<std::string>& url_override,
                                 const std::function<std::optional<std::string>(const std::string&)>& env) {
  ecs_endpoint endpoint;
  if (url_override && !url_override->empty()) {
    endpoint.url = *url_override;
    endpoint.version =
        url_override->find("/v2/") != std::string::npos ? ecs_metadata_version::v2 : ecs_metadata_version::v3;
    endpoint.source = "url";
    return endpoint;
  }
  if (auto v4 = env("ECS_CONTAINER_METADATA_URI_V4"); v4 && !v4->empty()) {
    const auto base = trim_trailing_slashes(*v4);
    endpoint.url = base + "/task";
    endpoint.tags_url = base + "/taskWithTags";
    endpoint.version = ecs_metadata_version::v4;
    endpoint.source = "ECS_CONTAINER_METADATA_URI_V4";
    return endpoint;
  }
  if (auto v3 = env("ECS_CONTAINER_METADATA_URI"); v3 && !v3->empty()) {
    endpoint.url = trim_trailing_slashes(*v3) + "/task";
    endpoint.version = ecs_metadata_version::v3;
    endpoint.source = "ECS_CONTAINER_METADATA_URI";
    return endpoint;
  }
  endpoint.url = std::string(ecs_v2_default_url);
  endpoint.version = ecs_metadata_version::v2;
  endpoint.source = "v2 default";
  return endpoint;
}

std::optional<std::string> parse_ecs_task(std::string_view body, const ecs_task_options& options,
                                          ecs_task_result& out) {
  out = {};
  input_json task;
  try {
    task = input_json::parse(body);
  } catch (const input_json::exception& e) {
    return std::string("malformed JSON (") + std::to_string(body.size()) + " bytes): " + e.what();
  }
  if (!task.is_object()) return "not an ECS task: expected a JSON object";
  // Every task lists its containers (at least the one this daemon runs in). A document
  // without the list (an error object, a proxy's answer) must not read as "no containers":
  // that would remove every service.
  if (!member(task, "Containers").is_array()) return "not an ECS task: no \"Containers\" list";
  out.task_status = std::string(str(task, "KnownStatus"));
  out.task_started = !task_not_started(out.task_status);

  std::vector<std::string> task_tags;
  // "arn:aws:ecs:<region>:<account>:cluster/<name>" or just the name.
  auto cluster = str(task, "Cluster");
  if (const auto slash = cluster.rfind('/'); slash != std::string_view::npos) cluster.remove_prefix(slash + 1);
  add_tag(task_tags, "ecs_cluster_name", cluster);
  add_tag(task_tags, "task_family", str(task, "Family"));
  add_tag(task_tags, "task_version", text(task, "Revision"));
  add_tag(task_tags, "task_arn", str(task, "TaskARN"));
  add_tag(task_tags, "availability_zone", str(task, "AvailabilityZone"));
  if (const auto& tags = member(task, "TaskTags"); tags.is_object()) {
    for (const auto& [key, value] : tags.items()) {
      if (value.is_string()) add_tag(task_tags, key, value.get<std::string>());
    }
  }

  if (const auto& containers = member(task, "Containers"); containers.is_array()) {
    for (const auto& c : containers) {
      if (str(c, "KnownStatus") != "RUNNING") continue;
      if (str(c, "Name") == "~internal~ecs~pause" || str(c, "Type") == "CNI_PAUSE") continue;
      if (str(c, "DockerId").empty()) continue;
      auto svc = map_container(c, task_tags, options);
      put_service(out.services, std::move(svc));
    }
  }
  return std::nullopt;
}

}  // namespace autodiscd
