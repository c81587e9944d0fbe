#include "listeners/docker/docker_mapping.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "listeners/ad_templates.hpp"
#include "listeners/container_ids.hpp"

namespace autodiscd::docker {
namespace {

using nlohmann::json;

const json* child(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string string_at(const json& j, std::string_view a, std::string_view b = {}) {
  const json* v = child(j, a);
  if (v && !b.empty()) v = child(*v, b);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool bool_at(const json& j, std::string_view a, std::string_view b) {
  const json* v = child(j, a);
  if (v) v = child(*v, b);
  return v && v->is_boolean() && v->get<bool>();
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

/// "80/tcp" -> [80]; "22-25/tcp" -> [22..25]; nothing when malformed.
void expand_port_key(std::string_view key, std::vector<service_port>& out) {
  auto slash = key.find('/');
  std::string_view numbers = key.substr(0, slash);
  auto dash = numbers.find('-');
  auto to_int = [](std::string_view s) -> int {
    if (s.empty() || s.size() > 5) return -1;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v <= 65535 ? v : -1;
  };
  int first = to_int(numbers.substr(0, dash));
  int last = dash == std::string_view::npos ? first : to_int(numbers.substr(dash + 1));
  if (first <= 0 || last < first || last - first > 65535) return;
  for (int p = first; p <= last; ++p) out.push_back(service_port{p, ""});
}

}  // namespace

// --- filters -----------------------------------------------------------------------------

namespace {
constexpr std::size_t max_filter_pattern = 512;

std::size_t longest_digit_run(std::string_view text) {
  std::size_t longest = 0;
  std::size_t run = 0;
  for (char c : text) {
    run = std::isdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest;
}
}  // namespace

container_filter::container_filter(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                                   bool exclude_pause, std::vector<std::string>& errors)
    : exclude_pause_(exclude_pause) {
  auto compile = [&errors](const std::vector<std::string>& entries, std::string_view list, std::vector<rule>& out) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      rule r;
      std::string pattern;
      if (e.rfind("name:", 0) == 0) {
        r.on_name = true;
        pattern = e.substr(5);
      } else if (e.rfind("image:", 0) == 0) {
        r.on_name = false;
        pattern = e.substr(6);
      } else {
        errors.push_back(fmt::format("{}[{}]: '{}' must start with name: or image:", list, i, e));
        continue;
      }
      // libstdc++'s regex compiler recurses once per term and reads counts into a long without
      // an overflow check (`a{99999999999999999999}` is undefined behaviour; found by
      // fuzz_daemon_config): refuse what a container filter never needs before compiling.
      if (pattern.size() > max_filter_pattern) {
        errors.push_back(fmt::format("{}[{}]: regex longer than {} characters", list, i, max_filter_pattern));
        continue;
      }
      if (longest_digit_run(pattern) > 6) {
        errors.push_back(fmt::format("{}[{}]: regex '{}' has a number of 7 or more digits", list, i, pattern));
        continue;
      }
      try {
        r.pattern = std::regex(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& ex) {
        errors.push_back(fmt::format("{}[{}]: bad regex '{}': {}", list, i, pattern, ex.what()));
        continue;
      }
      out.push_back(std::move(r));
    }
  };
  compile(include, "include", include_);
  compile(exclude, "exclude", exclude_);
}

bool container_filter::matches(const std::vector<rule>& rules, std::string_view name, std::string_view image) {
  for (const auto& r : rules) {
    std::string_view subject = r.on_name ? name : image;
    if (std::regex_search(subject.begin(), subject.end(), r.pattern)) return true;
  }
  return false;
}

bool container_filter::excluded(std::string_view name, std::string_view image) const {
  if (matches(include_, name, image)) return false;
  if (matches(exclude_, name, image)) return true;
  return exclude_pause_ && is_pause_image(image);
}

bool is_pause_image(std::string_view image) {
  auto parts = split_image_name(image);
  const auto& s = parts.short_name;
  const auto& l = parts.long_name;
  if (s == "pause" || s == "pause-amd64" || s == "pause-arm64" || s == "pause-win") return true;
  return s == "amazon-ecs-pause" || l.find("ecs-pause") != std::string::npos ||
         l.find("eks/pause") != std::string::npos || s == "pause-windows";
}

// --- images ------------------------------------------------------------------------------

std::string image_name_of(const json& inspect) {
  auto name = string_at(inspect, "Config", "Image");
  if (name.rfind("sha256:", 0) == 0 || is_hex64(name)) return {};
  return name;
}

std::string image_id_of(const json& inspect) { return string_at(inspect, "Image"); }

std::string image_name_from_image_inspect(const json& image_inspect) {
  for (const char* key : {"RepoTags", "RepoDigests"}) {
    const json* list = child(image_inspect, key);
    if (!list || !list->is_array()) continue;
    std::vector<std::string> names;
    for (const auto& v : *list) {
      if (v.is_string() && v.get<std::string>() != "<none>:<none>" && v.get<std::string>() != "<none>@<none>") {
        names.push_back(v.get<std::string>());
      }
    }
    if (!names.empty()) return *std::min_element(names.begin(), names.end());
  }
  return {};
}

// --- containers --------------------------------------------------------------------------

std::vector<service_port> container_ports(const json& inspect) {
  std::vector<service_port> ports;
  const json* settings = child(inspect, "NetworkSettings");
  const json* bound = settings ? child(*settings, "Ports") : nullptr;
  if (bound && bound->is_object()) {
    for (const auto& [key, value] : bound->items()) expand_port_key(key, ports);
  }
  if (ports.empty()) {
    const json* config = child(inspect, "Config");
    const json* exposed = config ? child(*config, "ExposedPorts") : nullptr;
    if (exposed && exposed->is_object()) {
      for (const auto& [key, value] : exposed->items()) expand_port_key(key, ports);
    }
  }
  normalize_ports(ports);
  return ports;
}

mapped_container map_container(const json& inspect, const std::string& image, const mapping_options& options,
                                const container_filter& filter) {
  mapped_container out;
  const std::string id = string_at(inspect, "Id");
  out.name = string_at(inspect, "Name");
  if (!out.name.empty() && out.name.front() == '/') out.name.erase(0, 1);
  out.running = bool_at(inspect, "State", "Running") && !bool_at(inspect, "State", "Paused");
  if (!out.running || id.empty()) return out;
  if (filter.excluded(out.name, image)) {
    out.filtered = true;
    return out;
  }

  std::map<std::string, std::string> labels;
  if (const json* config = child(inspect, "Config")) {
    if (const json* l = child(*config, "Labels"); l && l->is_object()) {
      for (const auto& [k, v] : l->items()) {
        if (v.is_string()) labels[k] = v.get<std::string>();
      }
    }
  }

  service svc;
  svc.id = "docker://" + id;
  svc.listener = options.listener_name;
  svc.ad_identifiers = compute_container_service_ids(svc.id, image, labels);

  std::string hostname = string_at(inspect, "Config", "Hostname");
  std::map<std::string, std::string> hosts;
  if (const json* settings = child(inspect, "NetworkSettings")) {
    if (const json* nets = child(*settings, "Networks"); nets && nets->is_object()) {
      for (const auto& [net_name, net] : nets->items()) {
        auto ip = string_at(net, "IPAddress");
        if (!ip.empty()) hosts[net_name] = ip;
      }
    }
  }
  // No IP (host network, `none`): the container's host name keeps %%host%% resolvable.
  if (hosts.empty() && !hostname.empty()) hosts["hostname"] = hostname;
  svc.hosts = std::move(hosts);
  svc.ports = container_ports(inspect);

  if (!image.empty()) {
    auto parts = split_image_name(image);
    svc.tags.push_back("docker_image:" + image);
    if (!parts.long_name.empty()) svc.tags.push_back("image_name:" + parts.long_name);
    if (!parts.short_name.empty()) svc.tags.push_back("short_image:" + parts.short_name);
    if (!parts.tag.empty()) svc.tags.push_back("image_tag:" + parts.tag);
  }
  if (!out.name.empty()) svc.tags.push_back("container_name:" + out.name);
  svc.tags.push_back("container_id:" + id);
  std::sort(svc.tags.begin(), svc.tags.end());

  if (const json* state = child(inspect, "State")) {
    if (const json* pid = child(*state, "Pid"); pid && pid->is_number_integer()) svc.pid = pid->get<std::int64_t>();
  }
  if (!svc.pid) svc.pid = 0;
  svc.hostname = hostname;

  // A container with a health check (non-empty status: Podman reports an empty one without)
  // is ready only when healthy, if asked.
  svc.ready = true;
  if (options.wait_for_healthy) {
    const json* state = child(inspect, "State");
    const json* health = state ? child(*state, "Health") : nullptr;
    std::string status = health ? string_at(*health, "Status") : std::string();
    if (!status.empty() && status != "healthy") svc.ready = false;
  }

  svc.label_templates = parse_ad_templates(labels, "com.datadoghq.ad.", "container " + out.name);
  out.svc = std::move(svc);
  return out;
}

// --- events ------------------------------------------------------------------------------

std::optional<event> parse_event(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  event ev;
  ev.type = string_at(j, "Type");
  ev.action = string_at(j, "Action");
  if (ev.action.empty()) ev.action = string_at(j, "status");
  ev.id = string_at(j, "Actor", "ID");
  if (ev.id.empty()) ev.id = string_at(j, "id");
  if (ev.type.empty() && !ev.id.empty()) ev.type = "container";  // very old engines
  return ev;
}

bool event_needs_inspect(const event& ev) {
  if (ev.type != "container" || ev.id.empty()) return false;
  std::string_view a = ev.action;
  if (auto colon = a.find(':'); colon != std::string_view::npos) a = a.substr(0, colon);
  static constexpr std::string_view actions[] = {"start", "unpause", "rename", "restart", "health_status",
                                                 "die",   "stop",    "kill",   "pause",   "destroy",
                                                 "remove", "oom",    "update"};
  return std::find(std::begin(actions), std::end(actions), a) != std::end(actions);
}

bool event_needs_late_inspect(const event& ev) {
  if (ev.type != "container" || ev.id.empty()) return false;
  return ev.action.rfind("health_status", 0) == 0 || ev.action == "exec_died";
}

bool line_splitter::feed(std::string_view data, std::vector<std::string>& lines) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(data);
      return partial_.size() <= max_line_;
    }
    partial_.append(data.substr(0, nl));
    data.remove_prefix(nl + 1);
    if (partial_.size() > max_line_) return false;
    while (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (!partial_.empty()) lines.push_back(std::move(partial_));
    partial_.clear();
  }
  return true;
}

// --- version and dates -------------------------------------------------------------------

std::string negotiate_api_version(std::string_view engine_version) {
  // The newest Engine API version whose fields this listener was written against.
  constexpr int max_major = 1, max_minor = 43;
  int major = 0, minor = 0;
  auto dot = engine_version.find('.');
  if (dot == std::string_view::npos) return {};
  try {
    major = std::stoi(std::string(engine_version.substr(0, dot)));
    minor = std::stoi(std::string(engine_version.substr(dot + 1)));
  } catch (...) {
    return {};
  }
  if (major <= 0 || minor < 0) return {};
  if (major > max_major || (major == max_major && minor > max_minor)) return fmt::format("{}.{}", max_major, max_minor);
  return fmt::format("{}.{}", major, minor);
}

std::optional<long long> parse_http_date(std::string_view date) {
  std::tm tm{};
  std::string text(date);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<long long>(timegm(&tm));
}

}  // namespace autodiscd::docker
